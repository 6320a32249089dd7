"""The inbound caller's ground truth: its SIPp log, read per call (no SIPp)."""
import pytest

from sc_asterisk.errors import ConfigError
from sc_asterisk.lab.callers import InboundCall, parse_caller_log, place_calls

# Lines as caller.xml writes them with SIPp 3.6.1 (a 0 double prints as nothing).
LOG = """\
UAC|invite|1795977715.000000|100000.000000|+33199001000|-|1-777@127.0.0.1
UAC|invite|1795977715.000000|200000.000000|33199001001|-|2-777@127.0.0.1
UAC|final|1795977715.000000|210000.000000|+33199001000|200|1-777@127.0.0.1
UAC|media|1795977715.000000|210000.000000|+33199001000|127.0.0.1:10042|1-777@127.0.0.1
UAC|final|1795977715.000000|260000.000000|33199001001|486|2-777@127.0.0.1
UAC|invite|1795977715.000000|300000.000000|33199001002|-|3-777@127.0.0.1
UAC|final|1795977715.000000|320000.000000|33199001002|200|3-777@127.0.0.1
UAC|invite|1795977715.000000|400000.000000|33199001003|-|4-777@127.0.0.1
UAC|final|1795977715.000000|420000.000000|33199001003|603|4-777@127.0.0.1
UAC|bye_sent|1795977716.000000||+33199001000|-|1-777@127.0.0.1
UAC|bye_recv|1795977717.000000|500000.000000|33199001002|-|3-777@127.0.0.1
some SIPp chatter
"""
CALLS = [InboundCall("+33199001000", 790), InboundCall("33199001001"),
         InboundCall("33199001002"), InboundCall("33199001003"), InboundCall("33199001004")]
T0 = 1795977715000.0


def test_one_truth_per_call_in_the_order_given():
    truths = parse_caller_log(LOG, CALLS)
    assert [t.number_called for t in truths] == [c.number_called for c in CALLS]
    assert truths[0].call_id == "1-777@127.0.0.1"


def test_answered_call_we_hung_up():
    call = parse_caller_log(LOG, CALLS)[0]
    assert (call.outcome, call.status, call.ended_by) == ("answered", 200, "caller")
    assert call.invite_ms == pytest.approx(T0 + 100)
    assert call.answer_ms == pytest.approx(T0 + 210)
    assert call.end_ms == pytest.approx(T0 + 1000)
    assert call.talk_ms == pytest.approx(790)
    assert call.far_rtp_port == 10042


def test_answered_call_the_far_end_hung_up():
    call = parse_caller_log(LOG, CALLS)[2]
    assert (call.outcome, call.ended_by) == ("answered", "callee")
    assert call.talk_ms == pytest.approx(2180)


def test_refusals_end_at_the_final_response():
    busy, declined = parse_caller_log(LOG, CALLS)[1], parse_caller_log(LOG, CALLS)[3]
    assert (busy.outcome, busy.status, busy.ended_by) == ("busy", 486, "callee")
    assert busy.end_ms == pytest.approx(T0 + 260) and busy.talk_ms is None
    assert (declined.outcome, declined.status) == ("rejected", 603)


def test_a_call_without_an_end_is_failed():
    never = parse_caller_log(LOG, CALLS)[4]
    assert (never.outcome, never.invite_ms, never.call_id) == ("failed", None, None)
    cut = parse_caller_log(LOG.split("UAC|bye_sent")[0], CALLS)[0]
    assert (cut.outcome, cut.status, cut.end_ms) == ("failed", 200, None)


@pytest.mark.parametrize("call, message", [
    (InboundCall("12;34"), "cannot be a SIP user part"),
    (InboundCall("100", caller_id="a b"), "cannot be a SIP user part"),
    (InboundCall("100\n"), "cannot be a SIP user part"),
    (InboundCall("100", caller_id="Allô"), "cannot be a SIP user part"),
    (InboundCall("100", hangup_after_ms=-1), "hangup_after_ms"),
])
def test_bad_calls_are_refused_before_sipp_runs(tmp_path, call, message):
    with pytest.raises(ConfigError, match=message):
        place_calls([call], "127.0.0.1", 5060, 5072, tmp_path)
    assert list(tmp_path.iterdir()) == []
