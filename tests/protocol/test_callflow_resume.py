"""A call flow lost with its controller resumes on a new FastAGI session: the dialplan passes
what it kept on the channel (SC_SEG, SC_LOST_MS), and the session plays the same segment from
the same point. Before each segment the flow leaves that point on the channel (one GOSUB).
A fake Asterisk (plain socket client) against the real server; assertions on the client side
or after the session."""
import asyncio

from sc_asterisk.agi import AgiServer
from sc_asterisk.callflow.broadcast import BroadcastHandler, resume_point
from sc_asterisk.callflow.player import Resume, Script, Segment

GOSUB_OK = "100 result=0 Trying...\n200 result=0 Gosub complete\n"


def header(*args):
    lines = ["agi_network: yes", "agi_network_script: broadcast", "agi_uniqueid: att-1"]
    lines += [f"agi_arg_{i}: {value}" for i, value in enumerate(args, 1)]
    return "\n".join(lines) + "\n\n"


class FakeStore:
    def __init__(self):
        self.played = None

    async def script_for(self, attempt_id, sounds_dir, key=""):
        return Script((Segment("message", "/snd/msg", 4000), Segment("notice", "/snd/n", 3000)),
                      optout_digit="9", optout_confirm="/snd/confirm")

    async def save_play(self, attempt_id, result):
        self.played = result


async def session(store, head, answers, finished=None):
    on_finished = (lambda uid, whole: finished.append((uid, whole))) \
        if finished is not None else None
    server = AgiServer({"broadcast": BroadcastHandler(store, "key", on_finished=on_finished)},
                       port=0)
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(head.encode())
    commands = []
    for answer in answers:
        line = await asyncio.wait_for(reader.readline(), 5)
        if not line:
            break
        commands.append(line.decode().strip())
        writer.write(answer.encode())
    writer.close()
    await server.stop(grace=1)
    return commands


def test_each_segment_is_left_on_the_channel_before_it_plays():
    """With the campaign's opt-out digit and confirmation prompt: a dialplan that plays the
    rest alone honours the digit."""
    store = FakeStore()
    commands = asyncio.run(session(store, header("/snd", "7.ab"), [
        GOSUB_OK, "200 result=0 endpos=32000\n", GOSUB_OK, "200 result=0 endpos=24000\n",
        "200 result=1\n"]))
    assert commands == ['GOSUB sc-segment s 1 "0,0,/snd/msg,/snd/n,9,/snd/confirm"',
                        'STREAM FILE "/snd/msg" "9"',
                        'GOSUB sc-segment s 1 "1,0,/snd/n,,9,/snd/confirm"',
                        'STREAM FILE "/snd/n" "9"', "HANGUP"]
    assert [s.listened_ms for s in store.played.segments] == [4000, 3000]


def test_a_resumed_session_plays_the_same_segment_from_where_the_callee_was():
    """Lost 1250 ms into the message: the new session starts it at sample 10000 (8 kHz), and
    what was heard counts from the file's start (endpos is absolute)."""
    store = FakeStore()
    seg = "0|1733520000000|/srv/sounds/msg|/srv/sounds/n"
    commands = asyncio.run(session(store, header("/snd", "7.ab", seg, "1733520001250"), [
        GOSUB_OK, "200 result=0 endpos=32000\n", GOSUB_OK, "200 result=0 endpos=24000\n",
        "200 result=1\n"]))
    assert commands[:2] == ['GOSUB sc-segment s 1 "0,1250,/snd/msg,/snd/n,9,/snd/confirm"',
                            'STREAM FILE "/snd/msg" "9" 10000']
    assert commands[3] == 'STREAM FILE "/snd/n" "9"'           # the next one from its start
    assert [(s.listened_ms, s.heard_full) for s in store.played.segments] == [
        (4000, True), (3000, True)]


def test_resumed_in_the_notice_the_message_counts_as_heard_and_is_not_replayed():
    store = FakeStore()
    seg = "1|1733520000000|/srv/sounds/n|"
    commands = asyncio.run(session(store, header("/snd", "7.ab", seg, "1733520000500"), [
        GOSUB_OK, "200 result=-1 endpos=12000\nHANGUP\n"]))
    assert commands == ['GOSUB sc-segment s 1 "1,500,/snd/n,,9,/snd/confirm"',
                        'STREAM FILE "/snd/n" "9" 4000']
    message, notice = store.played.segments
    assert (message.listened_ms, message.heard_full, message.stop_reason) == (4000, True, "end")
    assert notice.listened_ms <= 1500 and notice.stop_reason == "hangup"


def test_a_dialplan_without_the_subroutine_costs_nothing_but_the_resumption():
    """An older dialplan (no [sc-segment]): GOSUB fails, the script plays on."""
    store = FakeStore()
    commands = asyncio.run(session(store, header("/snd", "7.ab"), [
        "200 result=-1 Gosub label not found\n", "200 result=0 endpos=32000\n",
        "200 result=-1 Gosub label not found\n", "200 result=0 endpos=24000\n",
        "200 result=1\n"]))
    assert commands[-1] == "HANGUP"
    assert [s.heard_full for s in store.played.segments] == [True, True]


def test_resume_point_from_the_dialplan_values():
    assert resume_point("1|1000|/a|", "3500") == Resume(1, 2500)
    assert resume_point("0|5000|/a|/b", "4000") == Resume(0, 0)     # clocks: never negative
    for seg, lost in (("", ""), ("x|1|/a|", "2"), ("1|x|/a|", "2"), ("1|1|/a|", ""),
                      ("²|1|/a|", "2")):
        assert resume_point(seg, lost) is None


def test_a_hang_up_between_two_segments_keeps_what_was_heard():
    """The callee hangs up while the notice's GOSUB runs: the call ends like a hang-up at the
    notice's first sample, and what was measured of the message is saved."""
    store = FakeStore()
    asyncio.run(session(store, header("/snd", "7.ab"), [
        GOSUB_OK, "200 result=0 endpos=32000\n", "511 Command Not Permitted on a dead channel\n",
        "200 result=1\n"]))
    played = store.played
    assert played is not None and played.hung_up_by == "callee"
    assert [(s.listened_ms, s.stop_reason) for s in played.segments] == [(4000, "end"),
                                                                        (0, "hangup")]


def test_the_dialer_is_told_whether_one_session_played_the_call_whole():
    """Whole (Asterisk's log is not read for it): played to the end, or hung up as Asterisk
    said (HANGUP line). Not whole: a resumed session, or a connection that merely closed
    mid-file (the session may be lost with the call still up: the dialplan plays on)."""
    whole = "200 result=0 endpos=32000\n"
    runs = {
        "to the end": (header("/snd", "7.ab"),
                       [GOSUB_OK, whole, GOSUB_OK, whole, "200 result=1\n"]),
        "hung up": (header("/snd", "7.ab"), [GOSUB_OK, "HANGUP\n200 result=-1 endpos=800\n"]),
        "resumed": (header("/snd", "7.ab", "1|1733520000000|/srv/sounds/n|", "1733520000500"),
                    [GOSUB_OK, whole, "200 result=1\n"]),
        "closed": (header("/snd", "7.ab"), [GOSUB_OK]),
    }
    told = {}
    for name, (head, answers) in runs.items():
        finished = []
        asyncio.run(session(FakeStore(), head, answers, finished))
        assert len(finished) == 1 and finished[0][0] == "att-1"
        told[name] = finished[0][1]
    assert told == {"to the end": True, "hung up": True, "resumed": False, "closed": False}
