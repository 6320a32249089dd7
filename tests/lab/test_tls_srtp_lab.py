"""Issue 19's proof: a TLS trunk with SRTP (SDES), rendered by the production renderer
(sc-trunks.conf with the node's TLS transport), dials SIPp callees; listened ms are compared
with SIPp's log as in the other lab tests.

Debian's SIPp (3.6.1, `sipp -v`: -SCTP-PCAP-RTPSTREAM) has neither TLS nor SRTP: the callee
listens on TCP behind a TLS front (lab/tls_front.py) that ends TLS with a certificate this test
makes, and its answer negotiates SRTP (RTP/SAVP with an a=crypto line) without encrypting
anything itself. So what is proven is the TLS signalling (the carrier's certificate verified
against the node's CA file), Asterisk's SDES offer, its acceptance of the SRTP answer
(media_encryption_optimistic = no: a plain answer would fail the call) and the listened ms;
the SRTP packets themselves are not decrypted by the far end.
"""
import shutil
from contextlib import contextmanager

from sqlalchemy import select

from campaigns import make_campaign, numbers
from harness import run_to_end
from sc_asterisk.asterisk_conf.transports import TLS_TRANSPORT, NetConf, check_tls_files
from sc_asterisk.asterisk_conf.trunks import TRUNKS_FILE, TrunkConf, render_trunks
from sc_asterisk.db import CallAttempt
from sc_asterisk.dialer.campaigns import get_campaign
from sc_asterisk.lab.sipp import CalleePlan, Simulator, srtp_callee_scenario
from sc_asterisk.lab.tls_front import TlsFront, make_certificate

MSG_MS, NOTICE_MS = 4000, 3000
TOLERANCE_MS = 60
HOLDS = (1800, 5500)


@contextmanager
def tls_trunk(lab, ca_name: str):
    """The lab carrying trunk `tlslab` (TLS + SRTP) to a TLS front on callees+3, the node's TLS
    transport verifying carriers against the certificate named *ca_name*; yields the front's
    certificate and key. Afterwards the trunk is removed and Asterisk restarted: a PJSIP reload
    keeps a transport it once loaded ("not fully reloadable"), so the next test's TLS
    settings would not be taken."""
    directory = lab.host_dir / "tls-test"
    cert, key = make_certificate(directory)
    other, _ = make_certificate(directory, name="other-ca")
    inner = f"{lab.inner}/tls-test"             # the same files as Asterisk (chrooted) sees them
    check_tls_files(str(cert), str(key), str(directory / f"{ca_name}.crt"))  # node add/edit's
    front_port, tls_port = lab.ports.callees + 3, lab.ports.sip + 1
    text = render_trunks(
        [TrunkConf("tlslab", "127.0.0.1", port=front_port, transport="tls", srtp=True,
                   qualify_frequency=0, match=("127.0.0.1",))],
        node="lab", net=NetConf(tls_cert_file=f"{inner}/{cert.name}",
                                tls_key_file=f"{inner}/{key.name}", tls_bind="127.0.0.1",
                                tls_port=tls_port, tls_ca_file=f"{inner}/{ca_name}.crt"))
    trunks_file = lab.host_dir / "etc" / TRUNKS_FILE
    trunks_file.write_text(text)
    try:
        assert "reloaded" in (lab.rx("module reload res_pjsip.so") or "")
        transports = lab.rx("pjsip show transports") or ""
        assert TLS_TRANSPORT in transports and f"127.0.0.1:{tls_port}" in transports
        endpoint = lab.rx("pjsip show endpoint tlslab") or ""
        assert "media_encryption" in endpoint and "sdes" in endpoint
        yield cert, key, front_port
    finally:
        trunks_file.unlink()
        shutil.rmtree(directory)
        lab.down()
        lab.up()


def call(lab, db, prompts, tmp_path, name, block, holds):
    nums = numbers(block, len(holds))
    make_campaign(db, prompts, name, nums, trunk="tlslab", max_channels=2, cps=5,
                  ring_timeout_s=5)
    plan = CalleePlan()
    for number, hold in zip(nums, holds):
        plan.add(number, "answer", ring_ms=200, hold_ms=hold)
    return plan


def test_a_tls_srtp_trunk_call_is_measured_against_sipp(lab, db, prompts, tmp_path):
    with tls_trunk(lab, ca_name="lab-tls") as (cert, key, front_port):
        plan = call(lab, db, prompts, tmp_path, "tls", 91, HOLDS)
        scenario = srtp_callee_scenario(tmp_path / "sipp")
        with TlsFront(cert, key, listen_port=front_port, target_port=lab.ports.callees) as front, \
                Simulator(plan, port=lab.ports.callees, workdir=tmp_path / "sipp",
                          transport="tcp", scenario=scenario) as sim:
            run_to_end(db, lab.node_info(), "tls")
            truth = {t.number: t for t in sim.truth()}

    # the calls went over TLS, and Asterisk offered SRTP with SDES keys
    assert front.handshakes >= 1 and all(v.startswith("TLSv1.") for v in front.versions)
    offer = front.received.decode("latin-1")
    assert offer.count("INVITE sip:") >= len(HOLDS)
    assert "m=audio" in offer and "RTP/SAVP" in offer and "a=crypto:" in offer
    assert "RTP/AVP " not in offer                      # no plain RTP offered alongside

    with db.session() as s:
        assert get_campaign(s, "tls").status == "completed"
        attempts = s.scalars(select(CallAttempt)).all()
        assert len(attempts) == len(HOLDS)
        for a in attempts:
            record = a.record
            assert record.outcome == "answered", (a.number, record.hangup_cause)
            t = truth[a.number.lstrip("+")]
            assert t.outcome == "answered"
            hold = t.end_ms - t.answer_ms                # SIPp's ground truth
            segs = {sl.role: sl.listened_ms for sl in record.segments}
            assert abs(segs["message"] - min(hold, MSG_MS)) <= TOLERANCE_MS, hold
            assert abs(segs["notice"] - max(0, min(hold - MSG_MS, NOTICE_MS))) <= TOLERANCE_MS


def test_a_carrier_whose_certificate_the_node_does_not_trust_gets_no_call(lab, db, prompts,
                                                                          tmp_path):
    with tls_trunk(lab, ca_name="other-ca") as (cert, key, front_port):
        plan = call(lab, db, prompts, tmp_path, "untrusted", 92, (3000,))
        with TlsFront(cert, key, listen_port=front_port, target_port=lab.ports.callees) as front, \
                Simulator(plan, port=lab.ports.callees, workdir=tmp_path / "sipp",
                          transport="tcp", scenario=srtp_callee_scenario(tmp_path)) as sim:
            run_to_end(db, lab.node_info(), "untrusted")
            truth = sim.truth()
    assert truth == [] and b"INVITE" not in front.received   # nothing left the node
    with db.session() as s:
        [attempt] = s.scalars(select(CallAttempt)).all()
        assert attempt.record.answer_ms is None and attempt.record.outcome != "answered"
