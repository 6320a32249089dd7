import pytest

from sc_asterisk.agi.protocol import (AgiProtocolError, is_continuation, parse_header_line,
                                      parse_result, quote_arg, stream_file_command)
from sc_asterisk.audio import samples_to_ms


def test_full_playback_result_has_endpos():
    r = parse_result("200 result=0 endpos=160000")
    assert (r.code, r.result, r.endpos, r.digit) == (200, 0, 160000, None)


def test_hangup_mid_file_keeps_endpos():
    # Asterisk's answer when the callee hangs up during STREAM FILE.
    r = parse_result("200 result=-1 endpos=35040")
    assert r.result == -1 and r.endpos == 35040
    assert samples_to_ms(r.endpos) == 4380


def test_dtmf_interrupt_gives_digit():
    r = parse_result("200 result=57 endpos=8000")
    assert r.digit == "9" and r.endpos == 8000


def test_dead_channel_511():
    r = parse_result("511 Command Not Permitted on a dead channel or intercepted channel")
    assert r.dead_channel and not r.ok and r.result is None


def test_data_in_parentheses():
    r = parse_result("200 result=1 (timeout) endpos=0")
    assert r.data == "timeout" and r.endpos == 0


def test_usage_block_start_is_continuation():
    assert is_continuation("520-Invalid command syntax.  Proper usage follows:")
    assert not is_continuation("520 End of proper usage.")


@pytest.mark.parametrize("line", ["", "HANGUP", "garbage", "20 result=0", "abc result=1"])
def test_non_result_lines_are_rejected(line):
    with pytest.raises(AgiProtocolError):
        parse_result(line)


def test_header_lines():
    assert parse_header_line("agi_network_script: broadcast") == ("agi_network_script", "broadcast")
    assert parse_header_line("agi_callerid: +33 1 99") == ("agi_callerid", "+33 1 99")
    for bad in ("GET / HTTP/1.1", "nocolon", "agi_x y: z"):
        with pytest.raises(AgiProtocolError):
            parse_header_line(bad)


def test_stream_file_command_quotes_and_refuses_newlines():
    assert stream_file_command("/s/a b", "9") == 'STREAM FILE "/s/a b" "9"'
    assert stream_file_command("/s/x", "", 800) == 'STREAM FILE "/s/x" "" 800'
    assert quote_arg('a"b') == '"a\\"b"'
    with pytest.raises(AgiProtocolError):
        stream_file_command("/s/x\nHANGUP", "9")


def test_gosub_command_is_one_line_and_refuses_a_comma_in_an_argument():
    from sc_asterisk.agi.protocol import gosub_command
    assert gosub_command("sc-segment", "s", 1, ("0", "250", "/s/m", "/s/n&/s/x")) == \
        'GOSUB sc-segment s 1 "0,250,/s/m,/s/n&/s/x"'
    assert gosub_command("sc-segment", "s", 1) == "GOSUB sc-segment s 1"
    for args in (("a,b",), ("x\nHANGUP",)):
        with pytest.raises(AgiProtocolError):
            gosub_command("sc-segment", "s", 1, args)
    with pytest.raises(AgiProtocolError):
        gosub_command("sc segment", "s", 1)
