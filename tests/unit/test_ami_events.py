"""The typed AMI events, parsed from AMI text as Asterisk sends it (recorded transcripts):
panoramisk's message parser, our flattening, then the pure event parsers."""
import pytest
from panoramisk.message import Message

from sc_asterisk.ami import ChannelState, Hangup, HangupRequest, OriginateResult
from sc_asterisk.ami.client import flatten
from sc_asterisk.ami.events import channel_states

EOL = "\r\n"


def fields(*lines: str) -> dict[str, str]:
    return flatten(Message.from_line(EOL.join(lines)))


# Recorded from Asterisk 20 (timestampevents=yes); the attempt id is the ChannelId.
ANSWERED = fields("Event: OriginateResponse", "Privilege: call,all",
                  "Timestamp: 1733468400.123456", "ActionID: sc-att-1", "Response: Success",
                  "Channel: PJSIP/lab-00000001", "Context: sc-broadcast", "Exten: s",
                  "Reason: 4", "Uniqueid: att-1", "CallerIDNum: <unknown>")
BUSY = fields("Event: OriginateResponse", "Privilege: call,all", "ActionID: sc-att-2",
              "Response: Failure", "Channel: PJSIP/+33100000002@lab", "Reason: 5",
              "Uniqueid: <null>")
NEWSTATE = fields("Event: Newstate", "Privilege: call,all", "Timestamp: 1733468401.500000",
                  "Channel: PJSIP/lab-00000001", "ChannelState: 6", "ChannelStateDesc: Up",
                  "Uniqueid: att-1", "Linkedid: att-1")
HANGUP = fields("Event: Hangup", "Privilege: call,all", "Timestamp: 1733468409.250000",
                "Channel: PJSIP/lab-00000001", "Uniqueid: att-1", "Cause: 16",
                "Cause-txt: Normal Clearing")


def test_originate_result_names_the_channel_by_its_action_id():
    assert OriginateResult.parse(ANSWERED) == OriginateResult("att-1", True, 4, 1733468400123)
    assert OriginateResult.parse(BUSY) == OriginateResult("att-2", False, 5, None)


@pytest.mark.parametrize("action_id", ["", "sc-", "t-att-1", "att-1", "SC-att-1"])
def test_an_originate_result_not_ours_is_passed_over(action_id):
    assert OriginateResult.parse({**ANSWERED, "ActionID": action_id}) is None


def test_channel_state_and_hangup():
    change = ChannelState.parse(NEWSTATE)
    assert change == ChannelState("att-1", "Up", 1733468401500) and change.up
    ringing = ChannelState.parse({**NEWSTATE, "ChannelStateDesc": "Ringing"})
    assert not ringing.up
    assert Hangup.parse(HANGUP) == Hangup("att-1", 16, "Normal Clearing", 1733468409250)


@pytest.mark.parametrize("parse", [ChannelState.parse, Hangup.parse, HangupRequest.parse])
def test_an_event_without_a_channel_is_passed_over(parse):
    assert parse(fields("Event: Hangup", "Uniqueid: ", "Cause: 16")) is None
    assert parse(fields("Event: Newstate", "ChannelStateDesc: Up")) is None


@pytest.mark.parametrize("stamp", ["", "nan", "inf", "-inf", "1e999", "1e308", "soon", "0x10"])
def test_a_garbled_time_or_number_is_none_never_an_error(stamp):
    hangup = Hangup.parse({**HANGUP, "Timestamp": stamp, "Cause": stamp})
    assert hangup.at_ms is None and hangup.cause is None
    assert OriginateResult.parse({**ANSWERED, "Timestamp": stamp, "Reason": stamp}).reason is None


def test_a_header_sent_twice_counts_once():
    hangup = Hangup.parse(fields("Event: Hangup", "Uniqueid: att-1", "Uniqueid: att-9",
                                 "Cause: 17", "Cause: 16"))
    assert hangup.channel_id == "att-1" and hangup.cause == 17


def test_core_show_channels_answer():
    transcript = [fields("Response: Success", "ActionID: a/1", "EventList: start",
                         "Message: Channels will follow"),
                  fields("Event: CoreShowChannel", "ActionID: a/1", "Channel: PJSIP/lab-01",
                         "ChannelState: 6", "ChannelStateDesc: Up", "Uniqueid: att-1"),
                  fields("Event: CoreShowChannel", "ActionID: a/1", "Channel: PJSIP/lab-02",
                         "ChannelState: 5", "ChannelStateDesc: Ringing", "Uniqueid: att-2"),
                  fields("Event: CoreShowChannelsComplete", "ActionID: a/1",
                         "EventList: Complete", "ListItems: 2")]
    assert channel_states(transcript) == {"att-1": "Up", "att-2": "Ringing"}
    assert channel_states(transcript[:1] + transcript[-1:]) == {}
