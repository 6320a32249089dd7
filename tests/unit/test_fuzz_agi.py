"""Hostile input on the FastAGI side: the wire parsers, the call flow that reads their results,
and a live AgiServer on port 0 fed random bytes.

The contract every test checks is the one ``AgiServer._serve`` relies on: a peer can only ever
cause AgiHangup, AgiProtocolError, ConnectionError or a timeout. Anything else escapes the
call flow as a crash, and what the call measured is not saved.
"""
import asyncio
import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sc_asterisk.agi import AgiHangup, AgiProtocolError, AgiServer
from sc_asterisk.agi.protocol import (MAX_LINE_BYTES, is_continuation, parse_header_line,
                                      parse_result, quote_arg, stream_file_command)
from sc_asterisk.agi.server import _read_env
from sc_asterisk.callflow.player import Script, Segment, play

# What a FastAGI peer may legitimately make us raise (AgiServer._serve logs these as a session
# ending, not as a handler failure).
EXPECTED = (AgiHangup, AgiProtocolError, ConnectionError, asyncio.TimeoutError)
FAST = settings(max_examples=300, deadline=None)

# Lines that look like Asterisk's answers, with hostile variations mixed in.
RESULT_LINES = st.one_of(
    st.text(max_size=80),
    st.builds(lambda code, sep, rest: f"{code}{sep}{rest}",
              st.sampled_from(["200", "510", "511", "520", "100", "999", "000"]),
              st.sampled_from([" ", "-"]),
              st.lists(st.one_of(
                  st.builds(lambda k, v: f"{k}={v}",
                            st.sampled_from(["result", "endpos", "x"]),
                            st.one_of(st.integers(-10**20, 10**20).map(str),
                                      st.text(alphabet="-0123456789²٣", max_size=6),
                                      st.text(max_size=6))),
                  st.text(max_size=10).map(lambda t: f"({t})"),
                  st.text(max_size=10)), max_size=4).map(" ".join)),
)


@FAST
@given(RESULT_LINES)
@example("200 result=0 endpos=--5")        # passes isdigit() after lstrip, then int() fails
@example("200 result=0 endpos=²")          # '²'.isdigit() is True, int('²') is not
@example("200 result=1114112 endpos=0")    # chr() of a code point that does not exist
def test_result_parser_returns_a_result_or_a_protocol_error(line):
    try:
        r = parse_result(line)
    except AgiProtocolError:
        return
    assert 0 <= r.code <= 999
    assert r.result is None or isinstance(r.result, int)
    # Every derived figure the call flow reads must be safe to read.
    assert r.endpos is None or isinstance(r.endpos, int)
    assert r.digit is None or (isinstance(r.digit, str) and len(r.digit) == 1)
    assert isinstance(r.ok, bool) and isinstance(r.dead_channel, bool)
    assert isinstance(is_continuation(line), bool)


@FAST
@given(st.one_of(st.text(max_size=80),
                 st.builds(lambda k, v: f"agi_{k}:{v}", st.text(max_size=12), st.text(max_size=30))))
def test_header_line_parser_returns_a_clean_pair_or_a_protocol_error(line):
    try:
        key, value = parse_header_line(line)
    except AgiProtocolError:
        return
    assert key.startswith("agi_") and key == key.strip() and ":" not in key
    assert value == value.strip()


def _asterisk_args(command: str) -> list[str]:
    """Split a command line the way res_agi's parse_args does: quotes group, backslash escapes."""
    args, cur, quoted, escaped, started = [], [], False, False, False
    for c in command:
        if escaped:
            cur.append(c)
            escaped = False
        elif c == "\\":
            escaped = started = True
        elif c == '"':
            quoted, started = not quoted, True
        elif c in " \t" and not quoted:
            if started:
                args.append("".join(cur))
            cur, started = [], False
        else:
            cur.append(c)
            started = True
    if started:
        args.append("".join(cur))
    return args


@FAST
@given(path=st.text(max_size=40), digits=st.text(alphabet="0123456789*#", max_size=3))
def test_stream_file_command_is_one_line_whose_arguments_survive_asterisk_parsing(path, digits):
    try:
        cmd = stream_file_command(path, digits)
    except AgiProtocolError:
        assert "\r" in path or "\n" in path
        return
    assert "\n" not in cmd and "\r" not in cmd
    assert _asterisk_args(cmd) == ["STREAM", "FILE", path, digits]
    assert _asterisk_args(quote_arg(path)) == [path]


# -- the request header, read from a stream --------------------------------------------------
HEADER_BYTES = st.one_of(
    st.binary(max_size=300),
    st.lists(st.one_of(st.sampled_from([b"agi_network_script: broadcast", b"agi_request: agi://h/x",
                                        b"agi_uniqueid: 1", b"", b"agi_: ", b"agi_x:",
                                        b"agi_request: nonsense", b"\xff\xfe", b"a" * 9000]),
                       st.binary(max_size=40)), max_size=8).map(lambda ls: b"\n".join(ls)),
)


@settings(max_examples=200, deadline=None)
@given(HEADER_BYTES)
def test_request_header_reader_returns_an_env_or_an_error_the_server_expects(data):
    async def read():
        reader = asyncio.StreamReader(limit=MAX_LINE_BYTES * 2)
        reader.feed_data(data)
        reader.feed_eof()
        return await _read_env(reader)

    try:
        env = asyncio.run(read())
    except (AgiProtocolError, ConnectionError, UnicodeDecodeError, ValueError):
        return  # exactly the exceptions AgiServer._serve turns into "bad or missing header"
    assert "agi_network_script" in env
    assert all(k.startswith("agi_") for k in env)


# -- the call flow reading hostile answers ------------------------------------------------------
SCRIPT = Script((Segment("message", "/snd/msg", 4000), Segment("notice", "/snd/notice", 3000)))
GOOD_HEADER = (b"agi_network_script: broadcast\nagi_request: agi://127.0.0.1/broadcast\n"
               b"agi_uniqueid: good-1\n\n")
ANSWER_LINES = st.lists(st.one_of(RESULT_LINES, st.sampled_from(
    ["HANGUP", "520-Invalid command syntax.  Proper usage follows:", "520 End of proper usage.",
     "²²² x", "200 result=-1 endpos=-8", "200 result=57 endpos=800"])), max_size=6)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(answers=ANSWER_LINES)
@example(answers=["200 result=-1 endpos=-8"])                    # negative endpos
@example(answers=["520-usage", "²²² unicode digits end the block"])
def test_call_flow_on_hostile_answers_measures_or_ends_with_an_expected_error(answers):
    outcome = {}

    async def handler(session):
        try:
            outcome["play"] = await play(session, SCRIPT)
        except EXPECTED:
            outcome["ended"] = True
        except Exception as exc:  # noqa: BLE001 - recorded, asserted outside the handler
            outcome["crash"] = exc

    async def main():
        server = AgiServer({"broadcast": handler}, port=0, header_timeout=1, command_timeout=0.3)
        await server.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(GOOD_HEADER + "".join(a.replace("\n", " ") + "\n"
                                           for a in answers).encode("utf-8", "replace"))
        await writer.drain()
        writer.write_eof()
        await server.stop(grace=3)
        writer.close()
        return server.active

    assert asyncio.run(main()) == 0
    assert "crash" not in outcome, repr(outcome.get("crash"))
    if "play" in outcome:
        for seg, spec in zip(outcome["play"].segments, SCRIPT.segments):
            assert 0 <= seg.listened_ms <= spec.length_ms


# -- a live server: random bytes never stop other sessions -------------------------------------
HOSTILE = st.one_of(
    st.binary(max_size=400),
    st.binary(max_size=200).map(lambda b: GOOD_HEADER + b),
    st.sampled_from([b"\n", b"agi_x\n", GOOD_HEADER, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                     b"agi_network_script: broadcast\n" * 300, b"a" * 20000 + b"\n",
                     b"\xff" * 64 + b"\n\n"]),
)


async def good_session(port: int) -> list[str]:
    """A well-behaved Asterisk: full listen of both segments. Returns the commands received."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(GOOD_HEADER.replace(b"good-1", b"good-2"))
    received = []
    for answer in (b"200 result=0 endpos=32000\n", b"200 result=0 endpos=24000\n"):
        line = await asyncio.wait_for(reader.readline(), 5)
        received.append(line.decode().strip())
        writer.write(answer)
    writer.close()
    return received


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads=st.lists(HOSTILE, min_size=1, max_size=4), close=st.booleans())
def test_live_server_survives_random_bytes_and_serves_other_sessions(payloads, close):
    results = {}

    async def handler(session):
        try:
            results[session.uniqueid] = await play(session, SCRIPT)
        except Exception:  # noqa: BLE001 - a hostile session may fail; only good-2 is asserted
            pass

    async def hostile(port, payload):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(payload)
        try:
            await writer.drain()
            if close:
                writer.close()
            else:
                writer.write_eof()
                await asyncio.wait_for(reader.read(), 3)  # until the server gives up on us
        except (ConnectionError, asyncio.TimeoutError):
            pass
        writer.close()

    async def main():
        server = AgiServer({"broadcast": handler}, port=0, header_timeout=0.5,
                           command_timeout=0.3)
        await server.start()
        outcome = await asyncio.gather(good_session(server.port),
                                       *(hostile(server.port, p) for p in payloads))
        after = await good_session(server.port)      # and still serving afterwards
        await server.stop(grace=3)
        return outcome[0], after, server.active

    during, after, active = asyncio.run(main())
    expected = ['STREAM FILE "/snd/msg" "9"', 'STREAM FILE "/snd/notice" "9"']
    assert during == expected and after == expected
    assert active == 0
    good = results["good-2"]
    assert [(s.listened_ms, s.stop_reason) for s in good.segments] == [(4000, "end"),
                                                                        (3000, "end")]


def test_idle_connections_are_dropped_after_the_header_timeout_and_refused_beyond_the_cap():
    async def handler(session):
        await play(session, SCRIPT)

    async def main():
        server = AgiServer({"broadcast": handler}, port=0, max_sessions=3, header_timeout=0.5)
        await server.start()
        idle = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(6)]
        # Beyond the cap, a connection is closed at once (EOF), the first three wait.
        closed = 0
        for reader, _ in idle:
            try:
                if await asyncio.wait_for(reader.read(), 0.2) == b"":
                    closed += 1
            except asyncio.TimeoutError:
                pass
        refused = server.refused
        # After the header timeout the idle ones are gone and a real call is served.
        served = await asyncio.wait_for(_retry_good_session(server.port), 5)
        for _, writer in idle:
            writer.close()
        await server.stop(grace=1)
        return refused, closed, served

    refused, closed, served = asyncio.run(main())
    assert refused == 3 and closed >= 3
    assert served == ['STREAM FILE "/snd/msg" "9"', 'STREAM FILE "/snd/notice" "9"']


async def _retry_good_session(port):
    while True:
        try:
            received = await good_session(port)
            if len(received) == 2 and all(re.match("STREAM FILE", r) for r in received):
                return received
        except (ConnectionError, IndexError, asyncio.TimeoutError):
            pass
        await asyncio.sleep(0.1)
