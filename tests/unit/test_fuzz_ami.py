"""Hostile input on the AMI side: panoramisk's parser as our AmiClient drives it, our event
dispatch and call tracking, what we write on the wire, and a live fake AMI server that sends
garbage. The AMI peer is our own Asterisk, but a buggy or hostile one must cost at most the
message it garbled, never the process, never a call's record, and never a replayed Originate.
"""
import asyncio

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from sc_asterisk.ami import AmiClient
from sc_asterisk.db import AudioAsset, CallAttempt, Contact
from sc_asterisk.dialer.calls import CallTracker, Flight
from sc_asterisk.dialer.campaigns import create_campaign, queue_contacts
from sc_asterisk.dialer.claim import Claim, NodeSlot, claim_next
from sc_asterisk.dialer.retries import NO_RETRY
from sc_asterisk.errors import AmiError, ScError

EOL = "\r\n"
WATCHED = "att-7f3c9e"  # an attempt in flight; hostile frames never name it


class WireTransport:
    """Stands in for the TCP transport: keeps what the client writes."""

    def __init__(self):
        self.data = b""
        self.closed = False

    def write(self, data):
        self.data += data

    def close(self):
        self.closed = True

    def abort(self):
        self.closed = True

    def get_extra_info(self, *_):
        return None


def attach(client: AmiClient) -> tuple[AMIProtocol, WireTransport]:
    """Wire a protocol to *client*'s Manager exactly as Manager.connection_made does."""
    transport = WireTransport()
    proto = client.manager.config["protocol_factory"]()   # what create_connection would build
    proto.connection_made(transport)
    proto.factory = client.manager
    proto.encoding = "utf8"
    proto.log = client.manager.log
    client.manager.protocol = proto
    client.manager.responses = proto.responses
    return proto, transport


def frames(wire: bytes) -> list[dict[str, list[str]]]:
    """Split what was written into AMI actions as Asterisk reads them (blank line = end)."""
    out = []
    for frame in wire.decode("utf-8", "replace").split(EOL + EOL):
        if not frame.strip():
            continue
        headers: dict[str, list[str]] = {}
        for line in frame.split(EOL):
            key, _, value = line.partition(":")
            headers.setdefault(key.strip().lower(), []).append(value.strip())
        out.append(headers)
    return out


def follow_watched(client: AmiClient, tracker: CallTracker) -> Flight:
    """*tracker* follows *client*'s events, with one call in flight: WATCHED's."""
    tracker.watch(client)
    flight = Flight(Claim(WATCHED, "+33199000001", "n1", "lab", None, 5, 7000))
    tracker.flights[WATCHED] = flight
    return flight


# -- the parser ----------------------------------------------------------------------------
HEADER_NAMES = st.sampled_from(["Event", "Response", "ActionID", "Uniqueid", "Cause",
                                "ChannelStateDesc", "Timestamp", "Message", "Output", "x"])
HOSTILE_FRAME = st.one_of(
    st.text(max_size=120),
    st.lists(st.builds(lambda k, v: f"{k}: {v}", st.one_of(HEADER_NAMES, st.text(max_size=8)),
                       st.text(max_size=20)), max_size=6).map(EOL.join),
    st.sampled_from(["Response: Follows\r\nOutput: x\r\n--END COMMAND--", "Event:", ": :",
                     "Response: Fail\r\n\r\n\r\n", "Event: Hangup\r\nUniqueid: ",
                     "Event: Newstate\r\nUniqueid: x\r\nChannelStateDesc: Up\r\nTimestamp: nan",
                     "Event: Hangup\r\nUniqueid: x\r\nTimestamp: 1e999",
                     "Event: OriginateResponse\r\nActionID: sc-\r\nResponse: Success"]),
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(HOSTILE_FRAME, st.text(max_size=200)))
def test_message_parser_returns_a_message_or_nothing(text):
    message = Message.from_line(text)
    assert message is None or isinstance(message, Message)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile=st.lists(HOSTILE_FRAME, max_size=5), cuts=st.lists(st.integers(0, 2000), max_size=6),
       raw=st.binary(max_size=60))
@example(hostile=["Event: A\r\nEvent: B"], cuts=[], raw=b"")         # a header sent twice
@example(hostile=["Event: Hangup\r\nActionID: 1\r\nActionID: 2"], cuts=[], raw=b"")
def test_a_garbled_message_costs_only_itself(hostile, cuts, raw):
    """Random frames and bytes, cut at random points: the next well-formed event is still
    dispatched, the link is not dropped, and a call in flight is untouched."""
    async def main():
        client = AmiClient("127.0.0.1", 1, "u", "s")
        tracker = CallTracker()
        flight = follow_watched(client, tracker)
        seen = []
        client.on("Hangup", lambda e: seen.append(str(e.get("Uniqueid", ""))))
        proto, transport = attach(client)
        stream = raw + (EOL + EOL).encode() + "".join(f"{h}{EOL}{EOL}Event: Hangup{EOL}Uniqueid: mk-{i}{EOL}{EOL}"
                               for i, h in enumerate(hostile)).encode()
        points = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
        for a, b in zip(points, points[1:]):
            proto.data_received(stream[a:b])     # an exception here drops the whole link
        proto.data_received(f"Event: Hangup{EOL}Uniqueid: {WATCHED}{EOL}Cause: 16{EOL}{EOL}"
                            .encode())
        client.close()
        return seen, flight, transport

    seen, flight, transport = asyncio.run(main())
    assert [f"mk-{i}" for i in range(len(hostile))] == [s for s in seen if s.startswith("mk-")]
    assert flight.hung_up.is_set() and flight.cause == 16
    assert not flight.answered


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["Event", "Uniqueid", "ActionID", "Response", "Reason",
                                        "ChannelStateDesc", "Timestamp", "Cause", "Cause-txt"]),
                       # a list is what the parser makes of a header sent twice
                       st.one_of(st.text(max_size=15),
                                 st.lists(st.text(max_size=8), min_size=2, max_size=3),
                                 st.sampled_from(["Hangup", "Newstate", "OriginateResponse",
                                                  "Up", "Success", "sc-" + WATCHED[:-1]]))))
def test_event_dispatch_never_raises_and_never_touches_an_unnamed_call(headers):
    async def main():
        client = AmiClient("127.0.0.1", 1, "u", "s")
        tracker = CallTracker(on_answer=lambda *a: None)
        flight = follow_watched(client, tracker)
        client._dispatch(client.manager, Message(headers))
        client.close()
        return flight

    flight = asyncio.run(main())
    assert not (flight.answered or flight.hung_up.is_set() or flight.responded.is_set())


@settings(max_examples=100, deadline=None)
@given(stamp=st.one_of(st.sampled_from(["nan", "inf", "-inf", "1e999", "", "x"]),
                       # no lone surrogates: they cannot arrive from a socket as text
                       st.text(st.characters(blacklist_characters="\r\n",
                                             blacklist_categories=("Cs",)), max_size=12)))
def test_a_hangup_with_a_garbled_time_still_ends_its_call(stamp):
    """Asterisk's time is a nicety: without a usable one, the call still ends (now)."""
    async def main():
        client = AmiClient("127.0.0.1", 1, "u", "s")
        tracker = CallTracker()
        flight = follow_watched(client, tracker)
        proto, _ = attach(client)
        proto.data_received(f"Event: Hangup{EOL}Uniqueid: {WATCHED}{EOL}Timestamp: {stamp}{EOL}"
                            f"Cause: 16{EOL}{EOL}".encode())
        client.close()
        return flight

    flight = asyncio.run(main())
    assert flight.hung_up.is_set() and flight.cause == 16 and flight.end_ms is not None


# -- what we write: one action per call, whatever the values -------------------------------------
VALUES = st.one_of(st.text(max_size=30),
                   st.sampled_from(["x\r\n\r\nAction: Command\r\nCommand: core stop now",
                                    "a\nb", "a\rb", "x\r\nChannel: PJSIP/666@evil"]))


@settings(max_examples=200, deadline=None)
@given(values=st.lists(VALUES, min_size=1, max_size=3),
       variables=st.lists(VALUES, max_size=2))
@example(values=["x\r\n\r\nAction: Command\r\nCommand: core stop now"], variables=[])
def test_an_action_is_sent_as_exactly_one_action_or_refused(values, variables):
    """AMI frames end at a blank line: a value carrying CR/LF would smuggle headers or a whole
    second action (e.g. ``Command: core stop now``) under the controller's privileges."""
    fields = {"Action": "Originate", **{f"X-Field{i}": v for i, v in enumerate(values)}}
    if variables:
        fields["Variable"] = variables

    async def main():
        client = AmiClient("127.0.0.1", 1, "u", "s")
        _, transport = attach(client)
        client._logged_in.set()
        try:
            await client.action(fields, timeout=0.01)
        except AmiError as exc:
            refused = "no answer" not in str(exc)
        else:
            refused = False
        client.close()
        return refused, transport.data

    refused, wire = asyncio.run(main())
    if refused:
        assert wire == b""   # refused before anything was written
        return
    sent = frames(wire)
    assert len(sent) == 1, f"{len(sent)} actions on the wire: {wire!r}"
    assert sent[0]["action"] == ["Originate"]
    expected_lines = len(values) + len(variables) + 2     # + Action and ActionID
    assert sum(len(v) for v in sent[0].values()) == expected_lines


def test_campaign_caller_id_cannot_smuggle_an_ami_command(db):
    """The path a campaign's caller ID takes: create -> claim -> Originate on the wire."""
    hostile = "1\r\n\r\nAction: Command\r\nCommand: core stop now"
    settings = dict(message="m", notice="n", optout_intro="i", windows="always",
                    retry_policy=NO_RETRY, status="running")
    with db.session() as s:
        for name in ("m", "n", "i"):
            s.add(AudioAsset(name=name, sha256=name * 64, duration_ms=1000, source_filename="x",
                             data=b""))
        s.flush()
        create_campaign(s, "benign", caller_id="+33199000000", **settings)  # the path works
        try:
            campaign = create_campaign(s, "cid", caller_id=hostile, **settings)
        except ScError:
            return   # refused when the campaign is created: the fix we want
        contact = Contact(e164="+33199000001", time_zone="Europe/Paris")
        s.add(contact)
        s.flush()
        queue_contacts(s, campaign, [contact.id])
    with db.session() as s:
        claim = claim_next(s, campaign.id, [NodeSlot("n1", 10)], "c1")
    assert isinstance(claim, Claim)

    async def main():
        client = AmiClient("127.0.0.1", 1, "u", "s")
        _, transport = attach(client)
        client._logged_in.set()
        client.action_timeout = 0.01
        state = await CallTracker().originate(client, Flight(claim), "PJSIP/x@lab", "agi://h:1")
        client.close()
        return state, transport.data

    state, wire = asyncio.run(main())
    commands = [f for f in frames(wire) if f.get("action") == ["Command"]]
    assert commands == [], f"caller ID smuggled an AMI action: {wire!r}"


# -- a live fake Asterisk that sends garbage -----------------------------------------------------
class FakeAmi:
    """A minimal AMI server: banner, Login and Ping answered, Originate left unanswered."""

    def __init__(self):
        self.actions: list[dict[str, list[str]]] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _conn(self, reader, writer):
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        buf = b""
        while data := await reader.read(65536):
            buf += data
            while b"\r\n\r\n" in buf:
                raw, buf = buf.split(b"\r\n\r\n", 1)
                action = frames(raw + b"\r\n\r\n")[0]
                self.actions.append(action)
                name, aid = action.get("action", [""])[0], action.get("actionid", [""])[0]
                if name in ("Login", "Ping"):
                    writer.write(f"Response: Success{EOL}ActionID: {aid}{EOL}"
                                 f"Message: ok{EOL}{EOL}".encode())
        writer.close()

    def send(self, data: bytes) -> None:
        self.writers[-1].write(data)

    def count(self, name: str) -> int:
        return sum(1 for a in self.actions if a.get("action") == [name])

    async def stop(self):
        self.server.close()
        for w in self.writers:
            w.close()


GARBAGE = [b"\x00\xff\xfe garbage \x80\r\n\r\n", b"Event: Hangup\r\nUniqueid: \r\n\r\n",
           b"Response: Follows\r\n\r\n\r\n\r\n", b": : :\r\n\r\n", b"\r\n" * 50,
           b"Event: A\r\nEvent: B\r\n\r\n", b"A" * 100000 + b"\r\n\r\n",
           b"Event: Hangup\r\nActionID: 1\r\nActionID: 2\r\n\r\n"]


async def ping_soon(client: AmiClient, within: float = 5.0) -> bool:
    """True once a Ping round-trips (the link may first drop and come back by itself)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        await asyncio.sleep(0.05)
        try:
            await client.action({"Action": "Ping"}, timeout=1)
            return True
        except AmiError:
            await client.wait_connected(max(0.1, deadline - loop.time()))
    return False


def test_live_link_survives_garbage_and_never_replays_an_originate():
    async def main():
        fake = FakeAmi()
        port = await fake.start()
        client = AmiClient("127.0.0.1", port, "u", "s", reconnect_delay=1, ping_interval=60)
        await client.connect(timeout=5)
        # An Originate Asterisk never answered, pending when the link is cut mid-way.
        pending = asyncio.ensure_future(client.action(
            {"Action": "Originate", "Channel": "PJSIP/x@lab", "Async": "true"}, timeout=10))
        await asyncio.sleep(0.1)
        for garbage in GARBAGE:
            fake.send(garbage)
            assert await ping_soon(client), f"link not back after {garbage[:30]!r}"
        fake.writers[-1].transport.abort()        # the connection cut under the client
        try:
            await asyncio.wait_for(pending, 5)
            outcome = "answered"
        except AmiError as exc:
            outcome = str(exc)
        assert await ping_soon(client)
        await asyncio.sleep(1.5)   # panoramisk would re-send awaiting actions by now
        client.close()
        await fake.stop()
        return outcome, fake.count("Originate"), client.connections

    outcome, originates, connections = asyncio.run(main())
    assert "link lost" in outcome            # failed loudly, not left hanging nor replayed
    assert originates == 1                    # sent once, never re-sent after the reconnect
    assert connections >= 2
