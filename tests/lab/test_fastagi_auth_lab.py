"""FastAGI admits only the installation's nodes, through the real lab: forged peers speaking
AGI (from 127.0.0.2, not the node's address, and from the node's address without the token)
get nothing and change nothing, while a real call to the campaign's number, through the lab
Asterisk and its rendered SC_AGI, is served and held by its node and controller."""
import asyncio
import socket

from sqlalchemy import func, select

from campaigns import make_campaign, numbers
from sc_asterisk.asterisk_conf.token import installation_agi_token
from sc_asterisk.db import CallAttempt
from sc_asterisk.db.models_privacy import SuppressionEntry
from sc_asterisk.lab.callers import InboundCall, place_calls
from sc_asterisk.service import Controller

DID = "+33199009998"


def forged_session(port: int, path: str, source: str, caller: str) -> bytes:
    """A raw TCP peer speaking AGI: a callback request for *path*, every STREAM FILE answered
    with the opt-out digit (result=57). Returns everything the controller sent."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10,
                                    source_address=(source, 0))
    conn.sendall((f"agi_network: yes\nagi_network_script: {path}\n"
                  f"agi_request: agi://127.0.0.1:{port}/{path}\nagi_channel: PJSIP/x-1\n"
                  f"agi_uniqueid: 1700000000.7\nagi_callerid: {caller}\nagi_extension: {DID}\n"
                  "agi_arg_1: /snd\n\n").encode())
    received = b""
    with conn:
        while True:
            try:
                data = conn.recv(4096)
            except ConnectionResetError:      # closed on us while our request was unread
                data = b""
            if not data:
                return received
            received += data
            conn.sendall(b"200 result=57 endpos=8000\n" if b"STREAM FILE" in data
                         else b"200 result=1\n")


def test_forged_fastagi_peers_get_nothing_and_change_nothing(lab, db, prompts, tmp_path):
    victim, caller = numbers(71, 2)
    make_campaign(db, prompts, "cbauth", [], caller_id=DID, max_channels=2, cps=1)
    token = installation_agi_token()     # what the lab's SC_AGI carries (this installation)
    node = lab.node_info()

    def counts():
        with db.session() as s:
            return (s.scalar(select(func.count()).select_from(CallAttempt)),
                    s.scalar(select(func.count()).select_from(SuppressionEntry)))

    async def go():
        async with Controller(db, node) as controller:
            port = controller.agi.port
            forged = [await asyncio.to_thread(forged_session, port, f"{token}/callback",
                                              "127.0.0.2", victim),
                      await asyncio.to_thread(forged_session, port, "callback", "127.0.0.1",
                                              victim)]
            after_forged = await asyncio.to_thread(counts)
            refused = {reason: controller.metrics.registry.get_sample_value(
                "sc_agi_refused_total", {"reason": reason}) for reason in ("peer", "token")}
            real = await asyncio.to_thread(
                place_calls, [InboundCall(DID, hangup_after_ms=2500, caller_id=caller)],
                "127.0.0.1", lab.ports.sip, lab.callers_port, tmp_path, timeout=30)
        return forged, after_forged, refused, real

    forged, after_forged, refused, real = asyncio.run(go())
    assert forged == [b"", b""]                       # not one AGI command
    assert after_forged == (0, 0)                     # no attempt, no suppression
    assert refused == {"peer": 1.0, "token": 1.0}
    assert [c.outcome for c in real] == ["answered"], real     # the node itself is served
    with db.session() as s:
        (attempt,) = s.scalars(select(CallAttempt)).all()
        assert attempt.number == caller and attempt.state == "finished"
        assert attempt.node == node.name and attempt.controller    # held like an outbound call
        assert s.scalar(select(func.count()).select_from(SuppressionEntry)) == 0
