"""Only the installation's nodes reach the call flow: a FastAGI session from an address that is
not a node's, or whose path lacks the installation's token, is closed before any handler runs
and changes nothing. Forged peers are raw TCP clients speaking AGI; assertions on the client
side and on the database."""
import asyncio
import socket

import pytest
from assets import prompt_asset
from sqlalchemy import func, select

from sc_asterisk.db.models_privacy import Installation
from sc_asterisk.keys import record_key
from sc_asterisk.agi import AgiGate, AgiServer, agi_url, derive_token
from sc_asterisk.db import CallAttempt
from sc_asterisk.db.models_privacy import SuppressionEntry
from sc_asterisk.dialer.campaigns import create_campaign
from sc_asterisk.nodes import NodeInfo
from sc_asterisk.service import Controller

KEY = "unit-test-installation-key"
TOKEN = derive_token(KEY)
DID = "+33199009999"


def forged_session(port: int, path: str, source: str = "127.0.0.1",
                   caller: str = "+33612345678") -> bytes:
    """A peer that speaks AGI: sends a callback request for *path* and answers every STREAM
    FILE with the opt-out digit (``result=57``), every other command with success. Returns
    everything the server sent."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10,
                                    source_address=(source, 0))
    header = (f"agi_network: yes\nagi_network_script: {path}\n"
              f"agi_request: agi://127.0.0.1:{port}/{path}\nagi_channel: PJSIP/lab-0001\n"
              f"agi_uniqueid: 1700000000.1\nagi_callerid: {caller}\nagi_extension: {DID}\n"
              "agi_arg_1: /snd\nagi_arg_2: n1\n\n")
    conn.sendall(header.encode())
    received, pending = b"", b""
    with conn:
        while True:
            try:
                data = conn.recv(4096)
            except ConnectionResetError:      # closed on us while our request was unread
                data = b""
            if not data:
                return received
            received += data
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                conn.sendall(b"200 result=57 endpos=8000\n" if line.startswith(b"STREAM FILE")
                             else b"200 result=1\n")


def test_the_token_is_derived_from_the_key_and_is_not_the_key():
    assert TOKEN == derive_token(KEY) and len(TOKEN) == 32 and KEY not in TOKEN
    assert derive_token("another-installation") != TOKEN
    assert agi_url("10.0.0.2", 4573, TOKEN) == f"agi://10.0.0.2:4573/{TOKEN}"


@pytest.mark.parametrize("source, path, refused", [
    ("127.0.0.2", f"{TOKEN}/callback", "peer"),          # the token, but not a node's address
    ("127.0.0.1", "callback", "token"),                  # a node's address, no token
    ("127.0.0.1", f"{TOKEN[:-1]}0/callback", "token"),   # a wrong token
    ("127.0.0.1", f"{TOKEN[:16]}/callback", "token"),    # a prefix of it
    ("127.0.0.1", f"{derive_token('x')}/callback", "token"),   # another installation's
    ("127.0.0.1", f"callback/{TOKEN}", "token"),         # elsewhere in the path
])
def test_a_forged_peer_is_closed_before_any_handler_runs(source, path, refused):
    ran, counted = [], []

    async def handler(session):
        ran.append(session.script)

    async def main():
        server = AgiServer({"callback": handler}, port=0, on_refused=counted.append,
                           gate=AgiGate(token=TOKEN, peers=frozenset({"127.0.0.1"})))
        await server.start()
        got = await asyncio.to_thread(forged_session, server.port, path, source)
        served = await asyncio.to_thread(forged_session, server.port, f"{TOKEN}/callback?x=1")
        await server.stop()
        return got, served, server.refused_by

    got, served, refused_by = asyncio.run(main())
    assert got == b""                                    # not one command
    assert counted == [refused] and refused_by[refused] == 1
    assert ran == ["callback"] and served == b""         # the node with the token is served


def _controller_db(db):
    with db.session() as s:
        s.query(Installation).delete()     # this test's installation key is KEY
    record_key(db, KEY, "test")
    with db.session() as s:
        for name in ("m", "n"):
            s.add(prompt_asset(name))
        s.flush()
        create_campaign(s, "cb", message="m", notice="n", caller_id=DID,
                        compliance_profile="basic")


def _counts(db):
    with db.session() as s:
        return (s.scalar(select(func.count()).select_from(CallAttempt)),
                s.scalar(select(func.count()).select_from(SuppressionEntry)))


def test_the_controller_callback_route_admits_only_its_nodes_with_the_token(db, tmp_path):
    """A forged peer that answers STREAM FILE with the opt-out digit, from a non-node address
    (with the token) and from the node's address (without it): no attempt, no suppression.
    The same peer from the node's address with the token does reach the callback script (the
    check that the forged sessions were refused for what they lacked)."""
    _controller_db(db)
    node = NodeInfo("n1", "127.0.0.1", 1, "u", "s", "127.0.0.1", 0, str(tmp_path / "snd"),
                    "/snd", "lab")

    async def main():
        controller = Controller(db, node, key=KEY, journal_dir=tmp_path / "journal")
        for link in controller.links.values():
            async def no_ami():
                return None
            link.ami.connect = no_ami            # no Asterisk here: only FastAGI is tested
        await controller.start()
        port = controller.agi.port
        try:
            forged = [await asyncio.to_thread(forged_session, port, f"{TOKEN}/callback",
                                              "127.0.0.2"),
                      await asyncio.to_thread(forged_session, port, "callback"),
                      await asyncio.to_thread(forged_session, port,
                                              f"{derive_token('x')}/callback")]
            before = await asyncio.to_thread(_counts, db)
            served = await asyncio.to_thread(forged_session, port, f"{TOKEN}/callback")
            await asyncio.sleep(0)
            refused = controller.metrics.registry.get_sample_value(
                "sc_agi_refused_total", {"reason": "token"})
        finally:
            await controller.stop(drain_s=1)
        return forged, before, served, refused

    forged, before, served, refused = asyncio.run(main())
    assert forged == [b"", b"", b""] and before == (0, 0)
    assert refused == 2
    assert b"STREAM FILE" in served                     # the real path, for comparison
    with db.session() as s:
        attempt = s.scalars(select(CallAttempt)).one()
        # an inbound call is held by its node and controller, like an outbound one
        assert attempt.node == "n1" and attempt.controller is not None
