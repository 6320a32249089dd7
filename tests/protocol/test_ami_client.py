"""AmiClient against a fake Asterisk Manager on a socket: the traps of panoramisk handled."""
import asyncio
import time

import pytest

from sc_asterisk import chanvars
from sc_asterisk.ami import AmiClient, AmiRefused
from sc_asterisk.dialer.calls import CallTracker, Flight
from sc_asterisk.dialer.claim import Claim
from sc_asterisk.dialer.reconcile import live_channels
from sc_asterisk.errors import AmiError

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


class FakeAmi:
    """Logs in anyone with secret 'good'; records every action; answers as told: *replies*
    maps an action to the AMI text sent back (``{aid}`` is its ActionID), Success otherwise."""

    def __init__(self, answer_originate=True, replies=None):
        self.actions: list[dict] = []
        self.blocks: list[str] = []
        self.connections = 0
        self.answer_originate = answer_originate
        self.replies = replies or {}
        self.writers = []

    async def start(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def handle(self, reader, writer):
        self.connections += 1
        self.writers.append(writer)
        writer.write(BANNER)
        while True:
            block = await reader.readuntil(b"\r\n\r\n")
            self.blocks.append(block.decode())
            fields = dict(line.split(": ", 1) for line in block.decode().strip().split("\r\n"))
            self.actions.append(fields)
            action = fields["Action"]
            if action == "Login":
                ok = fields.get("Secret") == "good"
                writer.write(f"Response: {'Success' if ok else 'Error'}\r\nActionID: "
                             f"{fields['ActionID']}\r\nMessage: x\r\n\r\n".encode())
            elif action == "Originate" and not self.answer_originate:
                writer.close()           # the link dies before Asterisk answered
                return
            elif action in self.replies:
                writer.write(self.replies[action].format(aid=fields["ActionID"]).encode())
            else:
                writer.write(f"Response: Success\r\nActionID: {fields['ActionID']}\r\n"
                             f"Message: ok\r\n\r\n".encode())

    def count(self, action):
        return sum(1 for a in self.actions if a["Action"] == action)


def test_wrong_secret_is_a_clear_error():
    async def main():
        fake = FakeAmi()
        await fake.start()
        client = AmiClient("127.0.0.1", fake.port, "sc", "bad")
        with pytest.raises(AmiError, match="refused"):
            await client.connect(timeout=3)
    asyncio.run(main())


def test_an_unanswered_originate_is_failed_and_never_resent_after_reconnect():
    async def main():
        fake = FakeAmi(answer_originate=False)
        await fake.start()
        client = AmiClient("127.0.0.1", fake.port, "sc", "good", reconnect_delay=1)
        await client.connect(timeout=3)
        with pytest.raises(AmiError):
            await client.action({"Action": "Originate", "Channel": "PJSIP/1@lab"}, timeout=3)
        assert await client.wait_connected(5)           # it came back by itself...
        await client.action({"Action": "Ping"})          # ...and works
        client.close()
        return fake

    fake = asyncio.run(main())
    assert fake.connections == 2 and fake.count("Login") == 2
    assert fake.count("Originate") == 1                  # panoramisk would have sent it again


def test_reconnect_backs_off():
    async def main():
        fake = FakeAmi()
        await fake.start()
        client = AmiClient("127.0.0.1", fake.port, "sc", "good", reconnect_delay=1)
        await client.connect(timeout=3)
        fake.server.close()
        await fake.server.wait_closed()
        attempts = []
        original = client._panoramisk_connect

        def counting(*a, **k):
            attempts.append(time.monotonic())
            return original(*a, **k)
        client._panoramisk_connect = counting
        for w in fake.writers:
            w.close()
        deadline = time.monotonic() + 8
        while len(attempts) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        client.close()
        return attempts

    attempts = asyncio.run(main())
    assert len(attempts) >= 3
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    assert gaps[1] > gaps[0] * 1.5                       # the delay grows


def test_a_silent_peer_is_dropped_by_the_ping_watchdog():
    async def main():
        fake = FakeAmi()
        await fake.start()
        client = AmiClient("127.0.0.1", fake.port, "sc", "good", ping_interval=0.2,
                           ping_timeout=0.3, reconnect_delay=1)
        await client.connect(timeout=3)
        # the link goes silent (half-open): the peer stops reading and answering
        fake.server.close()
        for w in fake.writers:
            w.transport.pause_reading()
        deadline = time.monotonic() + 3
        while client.connected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        lost = not client.connected
        client.close()
        return lost

    assert asyncio.run(main())


def transcript(*messages: list[str]) -> str:
    """AMI messages as Asterisk writes them: CRLF lines, a blank line after each."""
    return "".join("\r\n".join(lines) + "\r\n\r\n" for lines in messages)


def claim(attempt_id="att-1", amd=None) -> Claim:
    return Claim(attempt_id, "+33100000001", "n1", "lab", "+33100000000", 30, 7000, amd=amd,
                 campaign_id=7)


async def logged_in(fake: FakeAmi) -> AmiClient:
    await fake.start()
    client = AmiClient("127.0.0.1", fake.port, "sc", "good", reconnect_delay=1)
    await client.connect(timeout=3)
    return client


def test_originate_is_one_action_named_by_the_channel_id():
    async def main():
        fake = FakeAmi()
        client = await logged_in(fake)
        tracker = CallTracker()
        state = await tracker.originate(client, Flight(claim(amd="hangup:2500,1500,,5000")),
                                        "PJSIP/+33100000001@lab", "agi://10.0.0.2:4573")
        client.close()
        return state, fake

    state, fake = asyncio.run(main())
    assert state == "originating" and fake.count("Originate") == 1
    block = next(b for b in fake.blocks if "Action: Originate" in b).split("\r\n")
    for line in ["ActionID: sc-att-1", "ChannelId: att-1", "Channel: PJSIP/+33100000001@lab",
                 "Context: sc-broadcast", "Exten: s", "Priority: 1", "Timeout: 30000",
                 "Async: true", "CallerID: +33100000000",
                 f"Variable: {chanvars.SC_AGI}=agi://10.0.0.2:4573",
                 f"Variable: {chanvars.SC_CAMPAIGN}=7", f"Variable: {chanvars.SC_AMD}=1",
                 f"Variable: {chanvars.SC_AMD_ARG1}=2500", f"Variable: {chanvars.SC_AMD_ARG2}=1500",
                 f"Variable: {chanvars.SC_AMD_ARG4}=5000"]:
        assert line in block
    # Asterisk cuts a Variable: value at its first comma: every AMD() argument travels alone
    variables = [line.split(": ", 1)[1] for line in block if line.startswith("Variable: ")]
    assert not any("," in v for v in variables)
    assert not any(v.startswith(chanvars.SC_AMD_ARG3) for v in variables)   # empty: amd.conf's


def test_a_refused_originate_is_amirefused_and_the_attempt_failed():
    """Asterisk's Error answer decides a refusal, whatever its message says."""
    refused = transcript(["Response: Error", "ActionID: {aid}", "Message: Originate failed"])

    async def main():
        fake = FakeAmi(replies={"Originate": refused})
        client = await logged_in(fake)
        with pytest.raises(AmiRefused, match="Originate failed"):
            await client.originate(channel="PJSIP/1@lab", channel_id="att-0",
                                   context="sc-broadcast", exten="s", timeout_ms=1000)
        state = await CallTracker().originate(client, Flight(claim()), "PJSIP/1@lab", "agi://h:1")
        client.close()
        return state

    assert asyncio.run(main()) == "failed"


def test_an_originate_whose_fate_is_unknown_is_never_called_refused():
    async def main():
        fake = FakeAmi(answer_originate=False)
        client = await logged_in(fake)
        unknown = await CallTracker().originate(client, Flight(claim()), "PJSIP/1@lab",
                                                "agi://h:1")
        # the link is down until the reconnect: nothing leaves, nothing is lost
        not_sent = await CallTracker().originate(client, Flight(claim("att-2")), "PJSIP/1@lab",
                                                 "agi://h:1")
        client.close()
        return unknown, not_sent, fake

    unknown, not_sent, fake = asyncio.run(main())
    assert (unknown, not_sent) == ("unknown", "not_sent")
    assert fake.count("Originate") == 1


def test_a_call_is_followed_from_the_events_asterisk_sends():
    """Raw AMI text on the socket -> parser -> typed events -> the call's flight."""
    events = transcript(
        ["Event: Newstate", "Privilege: call,all", "Timestamp: 1733468401.500000",
         "ChannelStateDesc: Ringing", "Uniqueid: att-1"],
        ["Event: OriginateResponse", "Privilege: call,all", "Timestamp: 1733468402.000000",
         "ActionID: sc-att-1", "Response: Success", "Reason: 4", "Uniqueid: att-1"],
        ["Event: Newstate", "Privilege: call,all", "Timestamp: 1733468402.100000",
         "ChannelStateDesc: Up", "Uniqueid: att-1"],
        ["Event: Hangup", "Privilege: call,all", "Timestamp: 1733468409.250000",
         "Uniqueid: att-9", "Cause: 17"],
        ["Event: Hangup", "Privilege: call,all", "Timestamp: 1733468409.250000",
         "Uniqueid: att-1", "Cause: 16", "Cause-txt: Normal Clearing"])
    answers = []

    async def main():
        fake = FakeAmi(replies={"Originate": transcript(
            ["Response: Success", "ActionID: {aid}", "Message: Originate successfully queued"])
            + events})
        client = await logged_in(fake)
        tracker = CallTracker(on_answer=lambda *answer: answers.append(answer))
        tracker.watch(client)
        flight = Flight(claim())
        assert await tracker.originate(client, flight, "PJSIP/1@lab", "agi://h:1") \
            == "originating"
        await asyncio.wait_for(flight.hung_up.wait(), 3)
        client.close()
        return flight

    flight = asyncio.run(main())
    assert flight.responded.is_set() and flight.answered and flight.reason == 4
    assert answers == [("att-1", 1733468402000)]          # the first word of an answer counts
    assert (flight.end_ms, flight.cause, flight.cause_txt) == (1733468409250, 16,
                                                               "Normal Clearing")


def test_the_callees_bye_is_recorded_with_its_cause_not_the_hangups_zero():
    """What Asterisk 22 sends when the callee hangs up an answered call (seen in the lab, the
    AGI running): HangupRequest without a Cause, then res_agi's SoftHangupRequest (Cause 16
    there is AST_SOFTHANGUP_APPUNLOAD, a flag), then a Hangup that says 0 "Unknown"."""
    events = transcript(
        ["Event: OriginateResponse", "ActionID: sc-att-1", "Response: Success", "Reason: 4",
         "Uniqueid: att-1"],
        ["Event: HangupRequest", "Privilege: call,all", "Uniqueid: att-9", "Cause: 17"],
        ["Event: HangupRequest", "Privilege: call,all", "Uniqueid: att-1"],
        ["Event: SoftHangupRequest", "Privilege: call,all", "Uniqueid: att-1", "Cause: 32"],
        ["Event: Hangup", "Privilege: call,all", "Timestamp: 1733468409.250000",
         "Uniqueid: att-1", "Cause: 0", "Cause-txt: Unknown"])

    async def main():
        fake = FakeAmi(replies={"Originate": transcript(
            ["Response: Success", "ActionID: {aid}", "Message: Originate successfully queued"])
            + events})
        client = await logged_in(fake)
        tracker = CallTracker()
        tracker.watch(client)
        flight = Flight(claim())
        await tracker.originate(client, flight, "PJSIP/1@lab", "agi://h:1")
        await asyncio.wait_for(flight.hung_up.wait(), 3)
        client.close()
        return flight

    flight = asyncio.run(main())
    assert (flight.cause, flight.cause_txt) == (16, None)     # reports word 16 "Normal Clearing"


def test_a_hangup_with_a_cause_keeps_it():
    events = transcript(
        ["Event: HangupRequest", "Uniqueid: att-1", "Cause: 17"],
        ["Event: Hangup", "Uniqueid: att-1", "Cause: 17", "Cause-txt: User busy"])

    async def main():
        fake = FakeAmi(replies={"Originate": transcript(
            ["Response: Success", "ActionID: {aid}", "Message: queued"]) + events})
        client = await logged_in(fake)
        tracker = CallTracker()
        tracker.watch(client)
        flight = Flight(claim())
        await tracker.originate(client, flight, "PJSIP/1@lab", "agi://h:1")
        await asyncio.wait_for(flight.hung_up.wait(), 3)
        client.close()
        return flight

    flight = asyncio.run(main())
    assert (flight.cause, flight.cause_txt) == (17, "User busy")


def test_a_hangup_asked_by_asterisk_itself_is_not_read_as_a_q850_cause():
    """SoftHangupRequest's Cause is a flag (here 16 = AST_SOFTHANGUP_APPUNLOAD): with no
    HangupRequest, a Hangup cause of 0 stays 0."""
    events = transcript(
        ["Event: SoftHangupRequest", "Uniqueid: att-1", "Cause: 16"],
        ["Event: Hangup", "Uniqueid: att-1", "Cause: 0", "Cause-txt: Unknown"])

    async def main():
        fake = FakeAmi(replies={"Originate": transcript(
            ["Response: Success", "ActionID: {aid}", "Message: queued"]) + events})
        client = await logged_in(fake)
        tracker = CallTracker()
        tracker.watch(client)
        flight = Flight(claim())
        await tracker.originate(client, flight, "PJSIP/1@lab", "agi://h:1")
        await asyncio.wait_for(flight.hung_up.wait(), 3)
        client.close()
        return flight

    assert asyncio.run(main()).cause == 0


def test_live_channels_lists_the_nodes_channels_or_says_it_cannot():
    listing = transcript(
        ["Response: Success", "ActionID: {aid}", "EventList: start",
         "Message: Channels will follow"],
        ["Event: CoreShowChannel", "ActionID: {aid}", "Channel: PJSIP/lab-01",
         "ChannelStateDesc: Up", "Uniqueid: att-1"],
        ["Event: CoreShowChannel", "ActionID: {aid}", "Channel: PJSIP/lab-02",
         "ChannelStateDesc: Ringing", "Uniqueid: att-2"],
        ["Event: CoreShowChannelsComplete", "ActionID: {aid}", "EventList: Complete",
         "ListItems: 2"])
    refused = transcript(["Response: Error", "ActionID: {aid}", "Message: Permission denied"])

    async def main():
        listed = await logged_in(FakeAmi(replies={"CoreShowChannels": listing}))
        denied = await logged_in(FakeAmi(replies={"CoreShowChannels": refused}))
        channels = await listed.live_channels()
        with pytest.raises(AmiRefused):
            await denied.live_channels()
        reconciled = await live_channels(denied)
        listed.close()
        denied.close()
        return channels, reconciled, await live_channels(listed)   # the link is closed now

    channels, refused_answer, closed_answer = asyncio.run(main())
    assert channels == {"att-1": "Up", "att-2": "Ringing"}
    assert refused_answer is None and closed_answer is None
