"""The SMPP transport against a real SMSC (tests/smsc.py: the smpp34 package's
server): bind as transceiver, submit_sm with registered delivery, receipts matched to the
message ids, a throttling phase, mobile-originated STOP, a dropped connection."""
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sc_asterisk.sms.encoding import encode
from sc_asterisk.sms.smpp import LinkDown, SmppLink, SmppRoute, SubmitRefused

from smsc import Smsc

PASSWORD = "s3cret-pw"
NUMBER = "+33612345678"
SMSC_SCRIPT = Path(__file__).parent.parent / "smsc.py"


@pytest.fixture
def smsc():
    server = Smsc()
    yield server
    server.close()


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "sms-route-sim"
    path.write_text(PASSWORD + "\n")
    os.chmod(path, 0o600)
    return path


class Collected:
    def __init__(self):
        self.receipts, self.inbound = [], []
        self.cond = threading.Condition()

    def receipt(self, part, receipt):
        with self.cond:
            self.receipts.append((part, receipt))
            self.cond.notify_all()

    def mo(self, message):
        with self.cond:
            self.inbound.append(message)
            self.cond.notify_all()

    def wait(self, what, count, timeout=10):
        with self.cond:
            assert self.cond.wait_for(lambda: len(getattr(self, what)) >= count, timeout), \
                f"{len(getattr(self, what))} {what} of {count}"


@pytest.fixture
def link(smsc, password_file):
    seen = Collected()
    route = SmppRoute("sim", "127.0.0.1", smsc.port, "sc01", password_file, source="33900000000",
                      rate_per_s=200.0, enquire_link_s=0.5)
    link = SmppLink(route, on_receipt=seen.receipt, on_inbound=seen.mo)
    link.seen = seen
    link.start()
    assert link.wait_bound(10)
    yield link
    link.stop()


def test_submit_with_registered_delivery_and_the_receipt_matched(link, smsc, caplog):
    caplog.set_level(logging.DEBUG)
    [part] = link.submit(NUMBER, encode("Réunion jeudi à 18h. STOP SMS"), ref="msg-1")
    [seen] = smsc.submits
    assert (seen.destination, seen.destination_ton, seen.registered_delivery) == \
        ("33612345678", 1, 1)
    assert (seen.data_coding, seen.esm_class) == (0, 0)
    assert seen.short_message.decode("gsm03.38") == "Réunion jeudi à 18h. STOP SMS"
    link.seen.wait("receipts", 1)
    [(matched, receipt)] = link.seen.receipts
    assert matched == part and matched.ref == "msg-1" and matched.message_id == "M0001"
    assert (receipt.message_id, receipt.outcome) == ("M0001", "delivered")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (PASSWORD, PASSWORD.encode().hex(), "612345678", b"612345678".hex()):
        assert secret not in logged          # smpplib logs every PDU in hex at DEBUG


def test_a_receipt_before_its_submit_answer_is_still_matched(link, smsc):
    smsc.receipt_first = True
    [part] = link.submit(NUMBER, encode("Vite. STOP SMS"), ref="msg-2")
    link.seen.wait("receipts", 1)
    [(matched, receipt)] = link.seen.receipts
    assert matched == part and matched.ref == "msg-2" and receipt.message_id == part.message_id


def test_a_multipart_ucs2_message_goes_as_concatenated_parts(link, smsc):
    text = "Fête de l’école " * 10          # 160 UCS-2 units: 3 parts
    parts = link.submit(NUMBER, encode(text), ref=7)
    assert [p.part for p in parts] == [1, 2, 3]
    assert [s.data_coding for s in smsc.submits] == [8, 8, 8]
    assert all(s.esm_class & 0x40 for s in smsc.submits)
    headers = [s.short_message[:6] for s in smsc.submits]
    assert [h[4:6] for h in headers] == [b"\x03\x01", b"\x03\x02", b"\x03\x03"]
    assert len({h[3] for h in headers}) == 1
    assert "".join(s.short_message[6:].decode("utf-16-be") for s in smsc.submits) == text
    link.seen.wait("receipts", 3)
    assert sorted(p.part for p, _ in link.seen.receipts) == [1, 2, 3]


def test_throttling_slows_the_pace_and_loses_nothing(link, smsc):
    smsc.throttle_next = 3
    before = link.pacer.rate
    parts = [link.submit(NUMBER, encode(f"Message {i}. STOP SMS"), ref=i)[0] for i in range(5)]
    assert smsc.throttled == 3
    assert [s.short_message.decode("gsm03.38") for s in smsc.submits] == \
        [f"Message {i}. STOP SMS" for i in range(5)]           # each once, in order
    assert [p.ref for p in parts] == list(range(5))
    assert link.pacer.rate < before                              # slower, not failed


def test_an_inbound_stop_reaches_the_handler_with_its_sender(link, smsc):
    assert smsc.send_mo("33612345678", " Stop ! ") == 0
    link.seen.wait("inbound", 1)
    [message] = link.seen.inbound
    assert (message.sender, message.text, message.transport, message.international) == \
        ("33612345678", " Stop ! ", "smpp:sim", True)


def test_a_handler_failure_makes_the_smsc_deliver_again(link, smsc):
    link.on_inbound = lambda message: 1 / 0
    assert smsc.send_mo("33612345678", "STOP") == 0x64     # ESME_RX_T_APPN: try again


def test_a_throttle_that_never_ends_refuses_the_part_without_sending_it(smsc, password_file):
    route = SmppRoute("sim", "127.0.0.1", smsc.port, "sc01", password_file, rate_per_s=200.0,
                      throttle_limit_s=0.3)
    link = SmppLink(route)
    link.start()
    try:
        assert link.wait_bound(10)
        smsc.throttle_next = 10 ** 6
        with pytest.raises(SubmitRefused) as err:
            link.submit(NUMBER, encode("x"))
        assert err.value.status == 0x58 and err.value.accepted == []
        assert smsc.submits == [] and smsc.throttled >= 2
    finally:
        link.stop()


class SmscProcess:
    """The SMSC in its own process, so that killing it drops the TCP connection for real."""

    def __init__(self, port):
        self.proc = subprocess.Popen([sys.executable, str(SMSC_SCRIPT), str(port)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().startswith("listening")

    def line(self):
        return self.proc.stdout.readline().split()

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)


def test_a_dropped_connection_is_rebound_and_sending_goes_on(password_file):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    first = SmscProcess(port)
    route = SmppRoute("sim", "127.0.0.1", port, "sc01", password_file, rate_per_s=200.0,
                      enquire_link_s=0.5)
    link = SmppLink(route)
    link.start()
    second = None
    try:
        assert link.wait_bound(10)
        link.submit(NUMBER, encode("Avant. STOP SMS"))
        assert first.line() == ["bound"]
        assert bytes.fromhex(first.line()[1]).decode("gsm03.38") == "Avant. STOP SMS"
        first.kill()                                   # the SMSC dies: the connection drops
        deadline = time.monotonic() + 10
        while link.bound and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not link.bound
        second = SmscProcess(port)
        # the next submit waits for the new bind rather than failing
        link.submit(NUMBER, encode("Après. STOP SMS"), bind_wait_s=20)
        assert link.binds == 2
        assert second.line() == ["bound"]
        assert bytes.fromhex(second.line()[1]).decode("gsm03.38") == "Après. STOP SMS"
    finally:
        link.stop()
        first.kill()
        if second:
            second.kill()


def test_no_smsc_is_link_down_naming_the_fix(password_file):
    route = SmppRoute("nowhere", "127.0.0.1", 9, "sc01", password_file)
    link = SmppLink(route)
    link.start()
    try:
        with pytest.raises(LinkDown, match="not bound"):
            link.submit(NUMBER, encode("x"), bind_wait_s=0.5)
    finally:
        link.stop()


def test_an_idle_link_stays_bound_by_enquire_link(link, smsc):
    # enquire_link every 0.5 s when quiet; two unanswered would drop the link
    done = threading.Event()
    done.wait(2.5)
    assert link.bound and link.binds == 1 and smsc.binds == 1
    link.submit(NUMBER, encode("Toujours là. STOP SMS"))
