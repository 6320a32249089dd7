"""A fake Asterisk (plain socket client) against the real FastAGI server. Assertions run on the
client side or after the session, never inside a handler that could swallow them."""
import asyncio

import pytest

from sc_asterisk.agi import AgiServer
from sc_asterisk.callflow.player import Script, Segment, play

HEADER = ("agi_network: yes\nagi_network_script: broadcast\n"
          "agi_request: agi://127.0.0.1/broadcast\nagi_uniqueid: att-1\nagi_arg_1: /snd\n\n")


async def start(routes, **kw):
    server = AgiServer(routes, port=0, **kw)
    await server.start()
    return server


async def fake_asterisk(port, answers, header=HEADER):
    """Send the header, answer each command from *answers*; return the commands received."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(header.encode())
    received = []
    for answer in answers:
        line = await asyncio.wait_for(reader.readline(), 5)
        if not line:
            break
        received.append(line.decode().strip())
        writer.write(answer.encode())
        await writer.drain()
    writer.close()
    return received


def run(coro):
    return asyncio.run(coro)


def script():
    return Script((Segment("message", "/snd/msg", 20000), Segment("notice", "/snd/notice", 10000)))


def slow_clock(step_s=3600.0):
    """A recorded transcript is replayed at once: let every command seem to take an hour, so
    that only endpos decides (the real-time cap is tested on its own below)."""
    t = [0.0]

    def clock():
        t[0] += step_s
        return t[0]
    return clock


def test_full_listen_measures_every_segment():
    results = {}

    async def handler(session):
        results["play"] = await play(session, script())

    async def main():
        server = await start({"broadcast": handler})
        cmds = await fake_asterisk(server.port, ["200 result=0 endpos=160000\n",
                                                 "200 result=0 endpos=80000\n"])
        await server.stop()
        return cmds

    cmds = run(main())
    assert cmds == ['STREAM FILE "/snd/msg" "9"', 'STREAM FILE "/snd/notice" "9"']
    segs = results["play"].segments
    assert [(s.listened_ms, s.heard_full, s.stop_reason) for s in segs] == [
        (20000, True, "end"), (10000, True, "end")]
    assert results["play"].hung_up_by == "system"


def test_hangup_mid_message_keeps_endpos_and_notice_is_zero():
    results = {}

    async def handler(session):
        results["play"] = await play(session, script(), clock=slow_clock())

    async def main():
        server = await start({"broadcast": handler})
        # Asterisk: the result line with endpos, then HANGUP, then closes.
        await fake_asterisk(server.port, ["200 result=-1 endpos=35040\nHANGUP\n"])
        await server.stop()

    run(main())
    msg, notice = results["play"].segments
    assert (msg.listened_ms, msg.heard_full, msg.stop_reason) == (4380, False, "hangup")
    assert (notice.listened_ms, notice.stop_reason) == (0, "not_reached")
    assert results["play"].hung_up_by == "callee"


def test_hangup_line_before_result_is_tolerated():
    results = {}

    async def handler(session):
        results["play"] = await play(session, script(), clock=slow_clock())

    async def main():
        server = await start({"broadcast": handler})
        await fake_asterisk(server.port, ["200 result=0 endpos=160000\n",
                                          "HANGUP\n200 result=-1 endpos=4000\n"])
        await server.stop()

    run(main())
    msg, notice = results["play"].segments
    assert msg.heard_full and notice.listened_ms == 500 and notice.stop_reason == "hangup"


def test_missing_file_is_an_error_not_a_hangup():
    results = {}

    async def handler(session):
        results["play"] = await play(session, script())

    async def main():
        server = await start({"broadcast": handler})
        # result=-1 endpos=0 without HANGUP: the file could not be played; channel still up.
        cmds = await fake_asterisk(server.port, ["200 result=-1 endpos=0\n", "200 result=6\n"])
        await server.stop()
        return cmds

    cmds = run(main())
    assert cmds[1] == "CHANNEL STATUS"
    assert results["play"].segments[0].stop_reason == "error"


def test_dtmf_optout_stops_playback_and_calls_hook():
    calls = []

    async def on_optout():
        calls.append("suppressed")

    results = {}

    async def handler(session):
        results["play"] = await play(session, script(), on_optout=on_optout)

    async def main():
        server = await start({"broadcast": handler})
        await fake_asterisk(server.port, ["200 result=57 endpos=16000\n"])
        await server.stop()

    run(main())
    assert calls == ["suppressed"]
    msg, notice = results["play"].segments
    assert (msg.listened_ms, msg.stop_reason) == (2000, "dtmf") and results["play"].opted_out


def test_garbage_half_open_and_silent_peers_cost_only_their_connection():
    done = []

    async def handler(session):
        done.append((await play(session, script())).segments[0].listened_ms)

    async def main():
        server = await start({"broadcast": handler}, header_timeout=0.5)
        # garbage, a partial header then close, and a silent peer
        r1, w1 = await asyncio.open_connection("127.0.0.1", server.port)
        w1.write(b"GET / HTTP/1.1\r\n\r\n")
        r2, w2 = await asyncio.open_connection("127.0.0.1", server.port)
        w2.write(b"agi_network: yes\nagi_netw")
        w2.close()
        r3, w3 = await asyncio.open_connection("127.0.0.1", server.port)
        good = fake_asterisk(server.port, ["200 result=0 endpos=160000\n",
                                           "200 result=0 endpos=80000\n"])
        cmds = await asyncio.wait_for(good, 5)
        # the garbage peer is disconnected by the server (EOF), not left hanging
        assert await asyncio.wait_for(r1.read(), 2) == b""
        assert await asyncio.wait_for(r3.read(), 2) == b""
        await server.stop()
        return cmds

    cmds = run(main())
    assert len(cmds) == 2 and done == [20000]


def test_half_open_connection_mid_command_does_not_spin():
    """EOF while waiting for a result ends the session (panoramisk loops forever here)."""
    results = {}

    async def handler(session):
        results["play"] = await play(session, script())

    async def main():
        server = await start({"broadcast": handler})
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(HEADER.encode())
        await reader.readline()
        writer.close()
        for _ in range(100):
            if "play" in results:
                break
            await asyncio.sleep(0.02)
        await server.stop(grace=1)
        return server.active

    assert run(main()) == 0
    assert results["play"].segments[0].stop_reason == "hangup"


def test_sessions_over_the_bound_are_refused():
    async def main():
        gate = asyncio.Event()

        async def handler(session):
            await gate.wait()

        server = await start({"broadcast": handler}, max_sessions=1)
        r1, w1 = await asyncio.open_connection("127.0.0.1", server.port)
        w1.write(HEADER.encode())
        await asyncio.sleep(0)
        for _ in range(50):
            if server.active == 1:
                break
            await asyncio.sleep(0.01)
        r2, w2 = await asyncio.open_connection("127.0.0.1", server.port)
        w2.write(HEADER.encode())
        try:
            closed = await asyncio.wait_for(r2.read(), 2)
        except ConnectionResetError:   # closed with our header unread: an RST, also a refusal
            closed = b""
        gate.set()
        await server.stop()
        return closed, server.refused

    closed, refused = run(main())
    assert closed == b"" and refused == 1


def test_duplicate_route_is_refused():
    server = AgiServer({"broadcast": lambda s: None})
    with pytest.raises(ValueError):
        server.route("broadcast", lambda s: None)


def test_a_whole_file_endpos_after_a_hangup_is_capped_by_the_time_it_played():
    """Asterisk sometimes answers a STREAM FILE cut by a hang-up with the file's full length
    (seen in the lab: endpos=240000 for a 30 s file the callee left after 9 s)."""
    results = {}

    async def handler(session):
        results["play"] = await play(session, Script((Segment("message", "/snd/m", 30000),)))

    async def main():
        server = await start({"broadcast": handler})
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(HEADER.encode())
        await reader.readline()                     # STREAM FILE
        await asyncio.sleep(0.3)                    # the callee listens 0.3 s, then hangs up
        writer.write(b"200 result=-1 endpos=240000\nHANGUP\n")
        await writer.drain()
        writer.close()
        for _ in range(100):
            if "play" in results:
                break
            await asyncio.sleep(0.02)
        await server.stop()

    run(main())
    seg = results["play"].segments[0]
    assert seg.stop_reason == "hangup" and not seg.heard_full
    assert 300 <= seg.listened_ms < 1000
