"""AMI link on top of panoramisk's Manager, with its traps handled.

panoramisk is good at the wire format, action/response correlation and event dispatch, so we
keep those. Three of its defaults are wrong for a dialer and are replaced here:

- it re-sends actions that were unanswered when the link dropped: a re-sent Originate can dial a
  person twice, so on disconnect every pending action fails with AmiError instead;
- its keep-alive Ping is fire-and-forget, so a half-open link goes unnoticed: a watchdog sends
  Ping and drops the link when no answer comes within ``ping_timeout``;
- ``await``ing an ``Async: true`` Originate waits until the call is answered: we resolve on the
  immediate "queued" response and follow the call through events.

Knows nothing of campaigns or the database.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Mapping, TypeVar

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol

from ..aio import within
from ..errors import AmiError
from .events import (ChannelState, Hangup, HangupRequest, OriginateResult, channel_states,
                     originate_action_id)

log = logging.getLogger(__name__)
# panoramisk logs whole AMI messages (dialed numbers, caller IDs) at DEBUG and pending actions
# at INFO: clear numbers must stay out of logs, so only its warnings pass.
logging.getLogger("panoramisk").setLevel(logging.WARNING)

EventCallback = Callable[[dict[str, str]], Any]
Event = TypeVar("Event", OriginateResult, ChannelState, Hangup, HangupRequest)
_DISABLED = 10 ** 9  # panoramisk's own pinger is replaced by the watchdog
MAX_RECONNECT_S = 16


class AmiRefused(AmiError):
    """Asterisk answered the action with Error: it did not do it (a refused Originate dialed
    nobody)."""


class _TolerantProtocol(AMIProtocol):
    """panoramisk's protocol, except that a message it cannot handle (e.g. a repeated header
    where it expects one) is dropped alone instead of taking the whole link down."""

    def handle_message(self, message):
        try:
            return super().handle_message(message)
        except Exception:
            log.warning("AMI: dropped a message that could not be handled")
            return None


class AmiClient:
    """A logged-in AMI link that reconnects by itself.

    Example::

        ami = AmiClient("127.0.0.1", 5038, "sc-controller", secret)
        await ami.connect()
        ami.subscribe(Hangup, lambda hangup: print(hangup.channel_id, hangup.cause))
        await ami.action({"Action": "Ping"})
    """

    def __init__(self, host: str, port: int, username: str, secret: str, *,
                 ping_interval: float = 5.0, ping_timeout: float = 3.0,
                 action_timeout: float = 10.0, reconnect_delay: float = 1.0, name: str = "ami"):
        self.name = name
        self.host, self.port = host, port
        self._username, self._secret = username, secret
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.action_timeout = action_timeout
        self._callbacks: dict[str, list[EventCallback]] = {}
        self._login_callbacks: list[Callable[[], Any]] = []
        self._logged_in = asyncio.Event()
        self._first_login: asyncio.Future | None = None
        self._closing = False
        self._watchdog: asyncio.Task | None = None
        self._login_task: asyncio.Task | None = None
        self.connections = 0
        self.manager = Manager(host=host, port=port, ping_delay=_DISABLED, ping_interval=_DISABLED,
                               reconnect_timeout=max(1, int(reconnect_delay)),
                               on_connect=self._on_connect, on_disconnect=self._on_disconnect,
                               protocol_factory=_TolerantProtocol,
                               loop=asyncio.get_event_loop())
        self.manager.register_event("*", self._dispatch)
        # Reconnect with backoff: panoramisk retries every reconnect_timeout seconds; we double
        # that delay after each failed try (up to MAX_RECONNECT_S) and reset it on login.
        self._base_delay = max(1, int(reconnect_delay))
        self._panoramisk_connect = self.manager.connect
        self.manager.connect = self._connect_with_backoff  # type: ignore[method-assign]

    def _connect_with_backoff(self, *args, **kwargs):
        if self._closing:
            return None
        task = self._panoramisk_connect(*args, **kwargs)
        self.manager.reconnect_timeout = min(MAX_RECONNECT_S, self.manager.reconnect_timeout * 2)
        return task

    @property
    def connected(self) -> bool:
        return self._logged_in.is_set()

    def on(self, event: str, callback: EventCallback) -> None:
        """Call *callback(event_dict)* for every event named *event* (case-insensitive)."""
        self._callbacks.setdefault(event.lower(), []).append(callback)

    async def connect(self, timeout: float = 10.0) -> None:
        """Connect and log in; raise AmiError with the reason when that fails."""
        self._closing = False
        self._first_login = asyncio.get_running_loop().create_future()
        self.manager.connect()
        try:
            await within(asyncio.shield(self._first_login), timeout)
        except asyncio.TimeoutError:
            self.close()
            raise AmiError(f"no AMI login on {self.host}:{self.port} within {timeout:.0f}s",
                           fix="check that Asterisk runs and manager.conf enables this address") \
                from None
        except AmiError:
            self.close()
            raise
        if self._watchdog is None:
            self._watchdog = asyncio.ensure_future(self._watch())

    async def wait_connected(self, timeout: float) -> bool:
        """Wait until the link is logged in again (after a reconnect); False on timeout."""
        try:
            await within(self._logged_in.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def action(self, fields: dict[str, str], timeout: float | None = None) -> dict[str, str]:
        """Send one action and return its first response as a dict.

        Raises AmiRefused when Asterisk answers Error, AmiError when the link is down or the
        action times out. An action is sent once: it is never replayed after a reconnect.
        """
        self._require_link()
        return (await self._send(fields, timeout, event_list=False))[0]

    async def originate(self, *, channel: str, channel_id: str, context: str, exten: str,
                        timeout_ms: int, priority: int = 1, caller_id: str | None = None,
                        variables: Mapping[str, str] | None = None) -> None:
        """Start an asynchronous call; return once Asterisk has queued it.

        The call is then followed through events (``subscribe``): *channel_id* names it there,
        in its OriginateResult as in its ChannelState and Hangup events. Raises AmiRefused when
        Asterisk refused it (nothing was dialed) and AmiError when its fate is unknown (it may
        have left); it is never re-sent.

        Example::

            await ami.originate(channel="PJSIP/+33100000000@lab", channel_id="att-1",
                                context="sc-broadcast", exten="s", timeout_ms=30000,
                                variables={"GREETING": "short"})
        """
        fields = {"Action": "Originate", "ActionID": originate_action_id(channel_id),
                  "Channel": channel, "Context": context, "Exten": exten,
                  "Priority": str(priority), "Timeout": str(timeout_ms), "Async": "true",
                  "ChannelId": channel_id,
                  "Variable": [f"{name}={value}" for name, value in (variables or {}).items()]}
        if caller_id:
            fields["CallerID"] = caller_id
        await self.action(fields)

    async def live_channels(self) -> dict[str, str]:
        """The node's channels now: channel id -> state ("Up", "Ringing"...).

        Raises AmiError when the node cannot say (link down, no answer, refused).
        Example: ``"att-1" in await ami.live_channels()``.
        """
        self._require_link()
        messages = await self._send({"Action": "CoreShowChannels"}, None, event_list=True)
        return channel_states([flatten(m) for m in messages])

    def subscribe(self, kind: type[Event], callback: Callable[[Event], Any]) -> None:
        """Call *callback(event)* with every event of *kind* (OriginateResult, ChannelState,
        Hangup or HangupRequest); an event of that name that does not parse is passed over.

        Example: ``ami.subscribe(Hangup, lambda hangup: print(hangup.cause))``
        """
        def typed(fields: dict[str, str]) -> Any:
            event = kind.parse(fields)
            return None if event is None else callback(event)
        self.on(kind.AMI_EVENT, typed)

    def _require_link(self) -> None:
        if not self.connected:
            raise AmiError(f"AMI link to {self.host}:{self.port} is down",
                           fix="wait for the reconnect or check the node")

    async def _send(self, fields: dict[str, str], timeout: float | None, *, event_list: bool
                    ) -> list[dict[str, str]]:
        """The one path of every action: sent once, awaited with a timeout, refused on Error.
        Returns its messages: the response, then the events of an *event_list* answer."""
        check_fields(fields)
        # An event list is left to panoramisk to recognise ("EventList: start"): forced, an
        # Error answer would wait for a list end that never comes. Anything else resolves on
        # the first response (an Async Originate's "queued", not the call's end).
        future = self.manager.send_action(dict(fields), as_list=None if event_list else False)
        try:
            answer = await within(asyncio.shield(future), timeout or self.action_timeout)
        except asyncio.TimeoutError:
            raise AmiError(f"AMI action {fields.get('Action')} got no answer in time",
                           fix="the node may be overloaded; check it with sc-asterisk lab status") \
                from None
        messages = [dict(m.items()) for m in (answer if isinstance(answer, list) else [answer])]
        if messages[0].get("Response") in ("Error", "Failure", "Fail"):
            raise AmiRefused(f"AMI {fields.get('Action')} refused: "
                             f"{messages[0].get('Message', '')}", fix="see the Asterisk log")
        return messages

    def on_login(self, callback: Callable[[], Any]) -> None:
        """Call *callback()* after every successful login (the first and each reconnect)."""
        self._login_callbacks.append(callback)

    async def command(self, cli_command: str) -> str:
        """Run an Asterisk CLI command over AMI and return its output text."""
        response = await self.action({"Action": "Command", "Command": cli_command})
        output = response.get("Output", "") or response.get("content", "")
        # panoramisk gives a list when the output has several lines
        return "\n".join(output) if isinstance(output, list) else output

    def close(self) -> None:
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._fail_pending()
        self.manager.close()
        self._logged_in.clear()

    # -- panoramisk callbacks -------------------------------------------------------------
    def _on_connect(self, manager: Manager) -> None:
        self.connections += 1
        self._login_task = asyncio.ensure_future(self._login())

    async def _login(self) -> None:
        try:
            response = await within(self.manager.send_action(
                {"Action": "Login", "Username": self._username, "Secret": self._secret,
                 "Events": "on"}, as_list=False), self.action_timeout)
        except (asyncio.TimeoutError, AmiError, ConnectionError):
            return  # the link dropped during login; panoramisk reconnects and we try again
        first = self._first_login
        if response.get("Response") == "Success":
            log.info("%s: logged in to %s:%s", self.name, self.host, self.port)
            self.manager.reconnect_timeout = self._base_delay
            self._logged_in.set()
            if first is not None and not first.done():
                first.set_result(True)
            for callback in self._login_callbacks:
                result = callback()
                if asyncio.iscoroutine(result):
                    asyncio.ensure_future(result)
        else:
            log.error("%s: AMI login to %s:%s refused", self.name, self.host, self.port)
            if first is not None and not first.done():
                first.set_exception(AmiError(
                    f"AMI login to {self.host}:{self.port} refused",
                    fix="check the AMI username and secret in the node settings"))

    def _on_disconnect(self, manager: Manager, exc: Exception | None) -> None:
        if self._logged_in.is_set():
            log.warning("%s: AMI link to %s:%s lost", self.name, self.host, self.port)
        self._logged_in.clear()
        self._fail_pending()

    def _fail_pending(self) -> None:
        """Fail what panoramisk would re-send after a reconnect (never replay an Originate)."""
        protocol = self.manager.protocol
        unanswered = list(self.manager.awaiting_actions)
        self.manager.awaiting_actions.clear()
        unanswered += list(getattr(protocol, "responses", {}).values()) if protocol else []
        for action in unanswered:
            if not action.future.done():
                action.future.set_exception(AmiError(
                    f"AMI link lost before {action['action']} was answered",
                    fix="the call may or may not have started; reconciliation decides"))

    def _dispatch(self, manager: Manager, message) -> None:
        event = flatten(message)
        name = event.get("Event", "").lower()
        callbacks = self._callbacks.get(name, []) + self._callbacks.get("*", [])
        if not callbacks:
            return
        for callback in callbacks:
            try:
                result = callback(event)
                if asyncio.iscoroutine(result):
                    asyncio.ensure_future(result)
            except Exception:
                log.exception("%s: event callback failed for %s", self.name, name)

    async def _watch(self) -> None:
        """Ping watchdog: a link that does not answer Ping in time is dropped and reconnected."""
        while not self._closing:
            await asyncio.sleep(self.ping_interval)
            if not self.connected:
                continue
            try:
                await self._send({"Action": "Ping"}, self.ping_timeout, event_list=False)
            except AmiError:
                log.warning("%s: no Ping answer in %.1fs, dropping the link", self.name,
                            self.ping_timeout)
                protocol = self.manager.protocol
                if protocol is not None and getattr(protocol, "transport", None):
                    protocol.transport.abort()


def check_fields(fields: dict) -> None:
    """Refuse an action that would not be exactly one action on the wire: a CR or LF in a
    header or value would end it early and let the rest be read as another action (e.g. a
    caller ID smuggling ``Action: Command``)."""
    for key, value in fields.items():
        for item in (value if isinstance(value, (list, tuple)) else [value]):
            if any(c in f"{key}{item}" for c in "\r\n"):
                raise AmiError(f"AMI action {fields.get('Action', '?')}: a line break in {key}",
                               fix="AMI values are single lines; check where the value came from")
            if ":" in str(key):
                raise AmiError(f"AMI header name {key!r} is not valid", fix="remove the ':'")


def flatten(message) -> dict[str, str]:
    """An event as plain strings: panoramisk gives a list when a header repeats; the first
    value counts (a peer cannot make us act on a value that is not a string)."""
    out = {}
    for key, value in message.items():
        if isinstance(value, (list, tuple)):
            value = next((v for v in value if isinstance(v, str)), "")
        out[str(key)] = value if isinstance(value, str) else str(value)
    return out
