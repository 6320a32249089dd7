"""SMPP delivery receipts (appendix B text and TLVs) and the pace under throttling."""
import pytest

from sc_asterisk.sms.pacing import Pacer
from sc_asterisk.sms.receipt import is_receipt, parse_receipt


def test_the_appendix_b_text_gives_id_state_and_error():
    r = parse_receipt(b"id:0123456789 sub:001 dlvrd:001 submit date:2612070500 "
                      b"done date:2612070501 stat:DELIVRD err:000 text:Bonjour id:fake")
    assert (r.message_id, r.state, r.error, r.outcome) == ("0123456789", "DELIVRD", "000",
                                                           "delivered")


@pytest.mark.parametrize("stat,outcome", [("UNDELIV", "failed"), ("EXPIRED", "failed"),
                                          ("REJECTD", "failed"), ("ENROUTE", "pending"),
                                          ("ACCEPTD", "pending"), ("WHATEVER", "failed")])
def test_states_map_to_outcomes(stat, outcome):
    assert parse_receipt(f"id:7 stat:{stat} err:034".encode()).outcome == outcome


def test_tlvs_win_over_the_text():
    r = parse_receipt(b"id:1 stat:ENROUTE", receipted_message_id=b"A9F\x00", message_state=2)
    assert (r.message_id, r.state) == ("A9F", "DELIVRD")


def test_no_message_id_is_no_receipt():
    assert parse_receipt(b"stat:DELIVRD") is None and parse_receipt(None) is None


def test_the_esm_class_says_what_is_a_receipt():
    assert is_receipt(0x04) and is_receipt(0x44)
    assert not is_receipt(0x00) and not is_receipt(0x40) and not is_receipt(0x08)


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_the_pace_spaces_sends_at_the_rate():
    clock = Clock()
    pacer = Pacer(10.0, clock=clock)
    assert pacer.delay() == 0
    pacer.sent()
    assert pacer.delay() == pytest.approx(0.1)
    clock.t += 0.1
    assert pacer.delay() == 0


def test_throttling_halves_the_rate_down_to_a_floor_and_success_recovers_it():
    clock = Clock()
    pacer = Pacer(10.0, min_rate_per_s=1.0, clock=clock)
    pacer.throttled()
    assert pacer.rate == 5.0 and pacer.delay() == pytest.approx(0.2)
    for _ in range(10):
        pacer.throttled()
    assert pacer.rate == 1.0
    for _ in range(5):
        pacer.accepted()
    assert pacer.rate == pytest.approx(3.5)
    for _ in range(100):
        pacer.accepted()
    assert pacer.rate == 10.0


def test_a_rate_must_be_positive():
    with pytest.raises(ValueError):
        Pacer(0)
