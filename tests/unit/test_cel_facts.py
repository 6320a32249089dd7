"""Asterisk's CEL log as call facts, and what a callee heard rebuilt from it (issue 14). The
lines are the format the lab's Asterisk 22 writes (templates/cel_custom.conf)."""
import json
import os

from sc_asterisk.callflow.reconstruct import reconstruct
from sc_asterisk.cel import CallFacts, CelLog, SegmentMark, apply_line

SCRIPT = [("message", 4000), ("notice", 3000)]
T = 1796591279000


def line(kind, at_ms, uid="a1", userdef="", extra=""):
    return json.dumps({"eventenum": kind, "userdeftype": userdef,
                       "eventtime": f"{at_ms // 1000}.{at_ms % 1000:03d}123", "uniqueid": uid,
                       "eventextra": extra})


def user(what, text, at_ms, uid="a1"):
    return line("USER_DEFINED", at_ms, uid, what, json.dumps({"extra": text}))


def hangup(at_ms, cause=0, source="dialplan/agi", uid="a1"):
    return line("HANGUP", at_ms, uid, extra=json.dumps(
        {"hangupcause": cause, "hangupsource": source, "dialstatus": ""}))


def facts_of(*lines) -> CallFacts:
    calls = {}
    for text in lines:
        apply_line(calls, text)
    return calls["a1"]


def test_a_call_played_to_its_end_is_read_back_whole():
    facts = facts_of(line("ANSWER", T), user("sc-segment", f"0|{T + 10}|/s/m|/s/n", T + 10),
                     user("sc-segment", f"1|{T + 4011}|/s/n|", T + 4011), hangup(T + 7015))
    assert (facts.answer_ms, facts.end_ms, facts.cause, facts.ended_by_us) == (
        T, T + 7015, 16, True)
    played = reconstruct(facts, SCRIPT)
    assert [(s.listened_ms, s.heard_full, s.stop_reason) for s in played.segments] == [
        (4000, True, "end"), (3000, True, "end")]
    assert played.hung_up_by == "system"


def test_a_callee_hanging_up_mid_notice():
    facts = facts_of(line("ANSWER", T), user("sc-segment", f"0|{T + 10}|/s/m|/s/n", T + 10),
                     user("sc-segment", f"1|{T + 4011}|/s/n|", T + 4011),
                     hangup(T + 5511, cause=16, source="PJSIP/lab-callees-00000001"))
    played = reconstruct(facts, SCRIPT)
    assert [(s.listened_ms, s.heard_full, s.stop_reason) for s in played.segments] == [
        (4000, True, "end"), (1500, False, "hangup")]
    assert played.hung_up_by == "callee"


def test_lost_then_played_by_the_dialplan_from_the_same_point():
    """Lost 2500 ms into the message; 3 s of looking for a controller; the dialplan's
    [sc-segment] marks the message again with its start moved by the silence."""
    lost, alone = T + 2510, T + 5600
    facts = facts_of(line("ANSWER", T), user("sc-segment", f"0|{T + 10}|/s/m|/s/n", T + 10),
                     user("sc-lost", str(lost), lost),
                     user("sc-segment", f"0|{alone - 2500}|/s/m|/s/n", alone),
                     user("sc-segment", f"1|{alone + 1502}|/s/n|", alone + 1502),
                     hangup(alone + 2502, source="PJSIP/lab-callees-00000001"))
    played = reconstruct(facts, SCRIPT)
    assert [(s.listened_ms, s.heard_full) for s in played.segments] == [(4000, True),
                                                                        (1000, False)]


def test_lost_and_never_resumed_counts_only_what_was_heard():
    facts = facts_of(line("ANSWER", T), user("sc-segment", f"0|{T + 10}|/s/m|/s/n", T + 10),
                     user("sc-lost", str(T + 1210), T + 1210), hangup(T + 1300))
    played = reconstruct(facts, SCRIPT)
    assert [(s.listened_ms, s.stop_reason) for s in played.segments] == [(1200, "hangup"),
                                                                        (0, "not_reached")]


def test_an_unanswered_call_and_garbage_lines():
    calls = {}
    for text in ("", "not json", "[1]", json.dumps({"uniqueid": 5}),
                 hangup(T, cause=17, source="PJSIP/lab-callees-00000002", uid="b2")):
        apply_line(calls, text)
    assert list(calls) == ["b2"]
    assert (calls["b2"].answer_ms, calls["b2"].cause) == (None, 17)


def test_the_log_is_read_on_from_where_it_stopped_and_anew_after_a_rotation(tmp_path):
    path = tmp_path / "sc-cel.json"
    cel = CelLog(str(path))
    assert cel.facts("a1") is None                        # no file yet
    path.write_text(line("ANSWER", T) + "\n" + hangup(T + 900)[:20])   # one line half written
    assert cel.facts("a1").answer_ms == T and cel.facts("a1").end_ms is None
    with open(path, "a") as f:
        f.write(hangup(T + 900)[20:] + "\n")
    assert cel.facts("a1").end_ms == T + 900
    os.rename(path, tmp_path / "old.json")                # rotated: a new file
    path.write_text(line("ANSWER", T + 50, uid="c3") + "\n")
    assert cel.facts("c3").answer_ms == T + 50 and cel.facts("a1").end_ms == T + 900


def test_marks_out_of_the_script_are_ignored():
    facts = CallFacts("a1", answer_ms=T, end_ms=T + 100,
                      marks=[SegmentMark(T + 1, 7, T + 1)])
    assert [s.listened_ms for s in reconstruct(facts, SCRIPT).segments] == [0, 0]


def test_a_long_log_is_read_from_its_tail_only(tmp_path):
    """A restarted controller must not parse a day of calls in its database thread: the calls
    a dead controller left are in the log's last bytes."""
    path = tmp_path / "sc-cel.json"
    old = "".join(line("ANSWER", T + i, uid=f"old{i}") + "\n" for i in range(200))
    recent = line("ANSWER", T + 999, uid="new") + "\n" + hangup(T + 5000, uid="new") + "\n"
    path.write_text(old + recent)
    cel = CelLog(str(path), tail_bytes=len(recent) + 40)     # 40 bytes: part of an old line
    assert cel.facts("new").end_ms == T + 5000
    assert cel.facts("old0") is None and cel.facts("old199") is None   # the cut line skipped
    with open(path, "a") as f:
        f.write(line("ANSWER", T + 6000, uid="next") + "\n")
    assert cel.facts("next").answer_ms == T + 6000              # and read on from there


def test_memory_is_bounded_by_time_not_by_the_campaign(tmp_path):
    """An hour of normal calls: only the last ten minutes' are held; a call whose call flow
    was lost is held for hours (a successor controller needs it), then dropped too."""
    path = tmp_path / "sc-cel.json"
    t0 = 1_800_000_000_000
    lost = [line("ANSWER", t0, "lost"), user("sc-lost", "", t0 + 1000, "lost"),
            line("HANGUP", t0 + 9000, "lost", extra=json.dumps({"hangupcause": 16}))]
    calls = []
    for i in range(3600):                      # one call a second for an hour
        at = t0 + 10_000 + i * 1000
        calls += [line("ANSWER", at, f"c{i}"),
                  line("HANGUP", at + 7000, f"c{i}", extra=json.dumps({"hangupcause": 16}))]
    path.write_text("\n".join(lost + calls) + "\n")
    cel = CelLog(str(path), keep_ms=2 * 3_600_000, keep_ended_ms=10 * 60_000)
    assert cel.facts("c3599").end_ms is not None
    assert 595 <= len(cel) <= 602                           # ten minutes of calls + "lost"
    assert cel.facts("c0") is None                          # ended normally, long ago
    assert cel.facts("lost").lost_ms == [t0 + 1000]         # kept: its flow was lost
    later = t0 + 3 * 3_600_000
    with open(path, "a") as f:
        f.write(line("HANGUP", later, "late", extra=json.dumps({"hangupcause": 16})) + "\n")
    assert cel.facts("lost") is None and len(cel) == 1      # past keep_ms: dropped too
