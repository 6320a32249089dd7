"""The callee simulator's ground truth: log parsing and the plan it is driven by (no SIPp)."""
import pytest

from sc_asterisk.errors import ConfigError
from sc_asterisk.lab.sipp import CalleePlan, callee_key, parse_truth

# Lines as SIPp 3.6.1 writes them (doubles with %lf; a 0 double prints as nothing).
LOG = """\
SCT|invite|1795977715.000000|251764.000000|33199000001|-|1-21820@127.0.0.1
SCT|invite|1795977715.000000|303397.000000|33199000002|-|2-21820@127.0.0.1
SCT|invite|1795977715.000000|352707.000000|33199000003|-|3-21820@127.0.0.1
SCT|answer|1795977715.000000|362868.000000|33199000001|-|1-21820@127.0.0.1
SCT|ack|1795977715.000000|364589.000000|33199000001|-|1-21820@127.0.0.1
SCT|invite|1795977715.000000|403560.000000|33199000004|-|4-21820@127.0.0.1
SCT|invite|1795977715.000000|452074.000000|33199000005|-|5-21820@127.0.0.1
SCT|invite|1795977715.000000|503665.000000|33199000006|-|6-21820@127.0.0.1
SCT|final|1795977715.000000|514620.000000|33199000002|busy|2-21820@127.0.0.1
SCT|final|1795977715.000000|514662.000000|33199000004|rejected|4-21820@127.0.0.1
SCT|invite|1795977715.000000|552007.000000|33199000099|-|7-21820@127.0.0.1
SCT|final|1795977715.000000|558811.000000|33199000099|unknown|7-21820@127.0.0.1
SCT|answer|1795977715.000000|561296.000000|33199000005|-|5-21820@127.0.0.1
SCT|ack|1795977715.000000|562578.000000|33199000005|-|5-21820@127.0.0.1
SCT|answer|1795977715.000000|613886.000000|33199000006|-|6-21820@127.0.0.1
SCT|ack|1795977715.000000|615230.000000|33199000006|-|6-21820@127.0.0.1
SCT|cancel|1795977715.000000|764655.000000|33199000003|-|3-21820@127.0.0.1
SCT|final|1795977715.000000|764655.000000|33199000003|noanswer|3-21820@127.0.0.1
SCT|bye_sent|1795977715.000000|866712.000000|33199000001|-|1-21820@127.0.0.1
SCT|dtmf|1795977715.000000|866776.000000|33199000005|5|5-21820@127.0.0.1
SCT|final|1795977715.000000|869223.000000|33199000001|answered|1-21820@127.0.0.1
SCT|bye_recv|1795977715.000000|919835.000000|33199000006|-|6-21820@127.0.0.1
SCT|final|1795977715.000000|919835.000000|33199000006|answered|6-21820@127.0.0.1
SCT|bye_sent|1795977716.000000||33199000005|-|5-21820@127.0.0.1
SCT|final|1795977716.000000|2513.000000|33199000005|answered|5-21820@127.0.0.1
"""

T0 = 1795977715000.0


def by_number(text=LOG):
    return {t.number: t for t in parse_truth(text)}


def test_one_truth_per_call_in_invite_order():
    truths = parse_truth(LOG)
    assert [t.number[-2:] for t in truths] == ["01", "02", "03", "04", "05", "06", "99"]
    assert truths[0].call_id == "1-21820@127.0.0.1"


def test_answered_call_hung_up_by_the_callee():
    call = by_number()["33199000001"]
    assert call.outcome == "answered"
    assert call.ended_by == "callee"
    assert call.invite_ms == pytest.approx(T0 + 251.764)
    assert call.answer_ms == pytest.approx(T0 + 362.868)
    assert call.ack_ms == pytest.approx(T0 + 364.589)
    assert call.end_ms == pytest.approx(T0 + 866.712)
    assert call.hold_ms_measured == pytest.approx(866.712 - 362.868)
    assert call.dtmf is None and call.dtmf_ms is None


def test_caller_hangup_is_recorded_as_caller():
    call = by_number()["33199000006"]
    assert (call.outcome, call.ended_by) == ("answered", "caller")
    assert call.end_ms == pytest.approx(T0 + 919.835)


def test_refusals_end_at_the_final_response():
    calls = by_number()
    assert calls["33199000002"].outcome == "busy"
    assert calls["33199000004"].outcome == "rejected"
    assert calls["33199000099"].outcome == "unknown"
    for number in ("33199000002", "33199000004", "33199000099"):
        call = calls[number]
        assert call.ended_by == "callee"
        assert call.answer_ms is None and call.hold_ms_measured is None
    assert calls["33199000002"].end_ms == pytest.approx(T0 + 514.620)


def test_cancelled_ringing_call_is_noanswer_ended_by_caller():
    call = by_number()["33199000003"]
    assert (call.outcome, call.ended_by) == ("noanswer", "caller")
    assert call.end_ms == pytest.approx(T0 + 764.655)


def test_dtmf_digit_and_time_and_empty_zero_microseconds():
    call = by_number()["33199000005"]
    assert (call.dtmf, call.dtmf_ms) == ("5", pytest.approx(T0 + 866.776))
    # "||" is SIPp printing a microsecond count of 0
    assert call.end_ms == pytest.approx(T0 + 1000.0)


def test_call_in_progress_has_no_outcome_and_noise_is_skipped():
    text = ("sipp noise line\n"
            "SCT|invite|1700000000.000000|1000.000000|123|-|x@h\n"
            "SCT|answer|1700000000.000000|oops|123|-|x@h\n"
            "SCT|answer|1700000000.000000|2000.000000|123|-|x@h\n")
    [call] = parse_truth(text)
    assert call.outcome is None and call.end_ms is None
    assert call.answer_ms == pytest.approx(1700000000002.0)


def test_unexpected_requests_are_not_calls():
    text = ("SCT|unexpected|1700000000.000000|0.000000||OPTIONS|ping@h\n"
            "SCT|invite|1700000000.000000|1000.000000|1|-|x@h\n"
            "SCT|unexpected|1700000000.000000|2000.000000|1|INFO|x@h\n")
    [call] = parse_truth(text)
    assert (call.number, call.call_id, call.outcome) == ("1", "x@h", None)


def test_reused_call_id_with_a_new_invite_is_a_new_call():
    text = ("SCT|invite|1700000000.000000|0.000000|1|-|same@h\n"
            "SCT|final|1700000000.000000|5000.000000|1|busy|same@h\n"
            "SCT|invite|1700000100.000000|0.000000|2|-|same@h\n")
    first, second = parse_truth(text)
    assert (first.number, first.outcome) == ("1", "busy")
    assert (second.number, second.outcome) == ("2", None)


def test_plan_csv_is_keyed_without_plus():
    plan = CalleePlan()
    plan.add("+33199000001", "answer", ring_ms=100, hold_ms=2000)
    plan.add("33199000005", "dtmf", ring_ms=0, hold_ms=3000, dtmf="#", dtmf_at_ms=1200)
    assert plan.csv_text() == ("SEQUENTIAL\n"
                               "33199000001;answer;100;2000;-;0\n"
                               "33199000005;dtmf;0;3000;#;1200\n")
    assert plan.get("33199000001").behaviour == "answer"
    assert plan.get("+33199000005").dtmf == "#"
    assert callee_key("+331") == "331" and callee_key("331") == "331"
    assert plan.has_dtmf


@pytest.mark.parametrize("kwargs, fix_word", [
    (dict(number="+331", behaviour="hangup"), "one of"),
    (dict(number="33 1", behaviour="answer"), "digits"),
    (dict(number="331", behaviour="answer", hold_ms=-1), "hold_ms"),
    (dict(number="331", behaviour="dtmf"), "dtmf="),
    (dict(number="331", behaviour="dtmf", dtmf="12"), "dtmf="),
    (dict(number="331", behaviour="dtmf", dtmf="1", hold_ms=1000, dtmf_at_ms=1000), "dtmf_at_ms"),
    (dict(number="331", behaviour="answer", dtmf="1"), "behaviour='dtmf'"),
    (dict(number="331", behaviour="machine", dtmf="1"), "behaviour='dtmf'"),
])
def test_plan_refuses_bad_callees_with_a_fix(kwargs, fix_word):
    with pytest.raises(ConfigError) as err:
        CalleePlan().add(**kwargs)
    assert fix_word in err.value.fix


def test_plan_refuses_the_same_number_twice_with_or_without_plus():
    plan = CalleePlan()
    plan.add("+33199000001", "busy")
    with pytest.raises(ConfigError):
        plan.add("33199000001", "answer")


def test_empty_plan_cannot_be_written(tmp_path):
    with pytest.raises(ConfigError):
        CalleePlan().write_csv(tmp_path / "callees.csv")


def test_speaking_callees_are_planned_and_need_the_raw_socket():
    plan = CalleePlan()
    plan.add("+33199000010", "machine", ring_ms=200, hold_ms=9000)
    plan.add("33199000011", "human", ring_ms=300, hold_ms=4000)
    assert plan.csv_text() == ("SEQUENTIAL\n"
                               "33199000010;machine;200;9000;-;0\n"
                               "33199000011;human;300;4000;-;0\n")
    assert not plan.has_dtmf
    assert plan.raw_socket_behaviours == ["human", "machine"]
    plain = CalleePlan()
    plain.add("1", "answer")
    assert plain.raw_socket_behaviours == []


def test_audio_event_says_what_the_callee_said_and_when():
    text = ("SCT|invite|1700000000.000000|0.000000|10|-|m@h\n"
            "SCT|answer|1700000000.000000|100000.000000|10|-|m@h\n"
            "SCT|ack|1700000000.000000|101000.000000|10|-|m@h\n"
            "SCT|audio|1700000000.000000|101500.000000|10|greeting-machine|m@h\n")
    [call] = parse_truth(text)
    assert (call.audio, call.audio_ms) == ("greeting-machine", pytest.approx(1700000000101.5))
    assert call.dtmf is None
