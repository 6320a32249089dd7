"""The SMPP 3.4 transport: one transceiver bind to an SMSC, kept up, over ``smpplib``.

One thread owns the connection: it binds as a transceiver, reads every PDU, answers
``enquire_link`` and ``deliver_sm``, sends its own ``enquire_link`` when the line is quiet and
drops the link when two go unanswered, and reconnects (1 s, doubling to 30 s). Callers submit
from their own threads: :meth:`SmppLink.submit` sends each part (``registered_delivery`` 1)
at the :class:`~.pacing.Pacer`'s pace and waits for its ``submit_sm_resp``. A throttled part
(ESME_RTHROTTLED, ESME_RMSGQFUL) slows the pace and is sent again: it was refused, not taken.
A part whose answer is lost with the link is never sent again (it may have been accepted):
:class:`SubmitUnknown`. Receipts are matched to the submitted parts by the SMSC's message id.

No business rule here: what a receipt or an inbound message means is the callbacks' affair.
Never logged: the password (read from its 0600 file at each bind), numbers, texts.
"""
from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Callable

import smpplib.client
import smpplib.consts as C
import smpplib.exceptions
import smpplib.smpp

from ..errors import ScError
from ..telecom.secret_files import read_secret
from .encoding import GSM7, Encoded
from .inbound import Inbound
from .pacing import Pacer
from .receipt import Receipt, is_receipt, parse_receipt
from .smpp_types import LinkDown, SmppRoute, Submitted, SubmitRefused, SubmitUnknown

log = logging.getLogger(__name__)
# smpplib logs every PDU in hex at DEBUG (the password, numbers, texts): never below WARNING.
_WIRE_LOG = "sc_asterisk.sms.smpp.wire"
logging.getLogger(_WIRE_LOG).setLevel(logging.WARNING)

THROTTLED = (C.SMPP_ESME_RTHROTTLED, C.SMPP_ESME_RMSGQFUL)
DATA_CODING = {GSM7: 0x00, "ucs2": 0x08}
ESM_UDHI = 0x40
MAX_BACKOFF_S = 30.0
MAX_TRACKED = 100_000
TON_INTERNATIONAL, TON_ALPHANUMERIC = 1, 5


ReceiptHandler = Callable[[Submitted | None, Receipt], None]
InboundHandler = Callable[[Inbound], None]


@dataclass
class _Bind:
    client: smpplib.client.Client
    pending: dict[int, tuple[Future, "Submitted"]] = field(default_factory=dict)
    # receipts whose id no answer has named yet, held while submits await their answer: an
    # SMSC may send a receipt before the submit_sm_resp it belongs to
    early: list[Receipt] = field(default_factory=list)
    unanswered_links: int = 0


class SmppLink:
    """Example::

        link = SmppLink(route, on_receipt=save_receipt, on_inbound=handle_stop)
        link.start()
        ids = link.submit("+33612345678", encode("Bonjour. STOP SMS"), ref=message_row_id)
        link.stop()

    *on_receipt* and *on_inbound* run on the link's thread; the SMSC gets its deliver_sm_resp
    once they return (an exception answers ESME_RX_T_APPN: the SMSC delivers it again).
    """

    def __init__(self, route: SmppRoute, on_receipt: ReceiptHandler | None = None,
                 on_inbound: InboundHandler | None = None, pacer: Pacer | None = None):
        self.route = route
        self.on_receipt, self.on_inbound = on_receipt, on_inbound
        self.pacer = pacer or Pacer(route.rate_per_s)
        self.binds = 0                      # successful binds so far
        self._bind: _Bind | None = None
        self._bound = threading.Event()
        self._stop = threading.Event()
        self._send_lock = threading.Lock()  # one PDU on the wire at a time
        self._submit_lock = threading.Lock()  # one message's parts at a time, in order
        # parts awaiting their final receipt, by the SMSC's id (the link's thread only)
        self._parts: OrderedDict[str, Submitted] = OrderedDict()
        self._thread: threading.Thread | None = None

    # -- life -----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"smpp-{self.route.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        bind = self._bind
        if bind is not None:
            try:
                self._send(bind, "unbind")
            except (OSError, smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError):
                pass
            try:
                bind.client._socket.shutdown(socket.SHUT_RDWR)   # the reader sees the end
            except (AttributeError, OSError):
                pass
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_bound(self, timeout: float) -> bool:
        return self._bound.wait(timeout)

    @property
    def bound(self) -> bool:
        return self._bound.is_set()

    # -- submitting ------------------------------------------------------------------------
    def submit(self, destination: str, encoded: Encoded, ref: object = None,
               bind_wait_s: float = 5.0) -> list[Submitted]:
        """Send every part of *encoded* to *destination* (E.164); their Submitted records.
        LinkDown (nothing sent), SubmitRefused or SubmitUnknown otherwise."""
        payloads = encoded.payloads()
        total, concat_ref = len(payloads), random.randrange(256)
        accepted: list[Submitted] = []
        with self._submit_lock:
            for number, payload in enumerate(payloads, 1):
                if total > 1:
                    payload = bytes((5, 0, 3, concat_ref, total, number)) + payload
                accepted.append(self._submit_part(
                    Submitted(ref, number, ""), destination, payload, encoded.encoding,
                    total > 1, bind_wait_s, accepted))
        return accepted

    def _submit_part(self, part: Submitted, destination, payload, encoding, concatenated,
                     bind_wait_s, accepted) -> Submitted:
        throttled_since = None
        while True:
            delay = self.pacer.delay()
            if delay and self._stop.wait(delay):
                raise LinkDown("the SMPP link is stopping", fix="start it again")
            if not self._bound.wait(bind_wait_s) or self._bind is None:
                if accepted:
                    raise SubmitUnknown([p.message_id for p in accepted])
                raise LinkDown(f"SMPP route {self.route.name} is not bound",
                               fix="check the route's host, port and credentials")
            bind = self._bind
            answer: Future = Future()
            try:
                self._send(bind, "submit_sm", waiting=(answer, part),
                           **self._addresses(destination),
                           esm_class=ESM_UDHI if concatenated else 0, registered_delivery=1,
                           data_coding=DATA_CODING[encoding], short_message=payload)
            except (OSError, smpplib.exceptions.ConnectionError):
                if self._bind is bind:
                    self._bound.clear()     # the reader will see it too and reconnect
                continue                    # not sent: wait for the next bind
            self.pacer.sent()
            try:
                status, submitted = answer.result(self.route.response_timeout_s)
            except (FutureTimeout, LinkDown):
                raise SubmitUnknown([p.message_id for p in accepted]) from None
            if status == C.SMPP_ESME_ROK:
                self.pacer.accepted()
                return submitted
            if status in THROTTLED:
                throttled_since = throttled_since or time.monotonic()
                if time.monotonic() - throttled_since > self.route.throttle_limit_s:
                    raise SubmitRefused(status, [p.message_id for p in accepted])
                self.pacer.throttled()
                log.warning("SMPP route %s: throttled by the SMSC, now %.2f/s",
                            self.route.name, self.pacer.rate)
                continue
            raise SubmitRefused(status, [p.message_id for p in accepted])

    def _addresses(self, destination: str) -> dict:
        source = self.route.source
        source_ton = TON_INTERNATIONAL if source.lstrip("+").isdigit() else TON_ALPHANUMERIC
        return dict(source_addr_ton=source_ton, source_addr_npi=1 if source_ton == 1 else 0,
                    source_addr=source.lstrip("+"), dest_addr_ton=TON_INTERNATIONAL,
                    dest_addr_npi=1, destination_addr=destination.lstrip("+"))

    # -- the link's thread -----------------------------------------------------------------
    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            bind = None
            try:
                bind = self._connect()
                backoff = 1.0
                self._read(bind)
            except (OSError, smpplib.exceptions.ConnectionError,
                    smpplib.exceptions.PDUError, ScError) as exc:
                if not self._stop.is_set():
                    log.warning("SMPP route %s: link down (%s); reconnecting in %.0f s",
                                self.route.name, _why(exc), backoff)
            finally:
                self._drop(bind)
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _connect(self) -> _Bind:
        route = self.route
        password = read_secret(route.password_file)
        client = smpplib.client.Client(route.host, route.port, timeout=route.enquire_link_s,
                                       logger_name=_WIRE_LOG, allow_unknown_opt_params=True)
        try:
            client.connect()
            resp = client.bind_transceiver(system_id=route.system_id, password=password,
                                           system_type=route.system_type)
        except smpplib.exceptions.PDUError as exc:
            _close(client)
            status = exc.args[1] if len(exc.args) > 1 else 0
            raise LinkDown(f"bind refused: 0x{status:08x} {C.DESCRIPTIONS.get(status, '')}",
                           fix="check the route's system id and password file") from None
        except BaseException:
            _close(client)
            raise
        if resp is None or resp.status != C.SMPP_ESME_ROK:
            _close(client)
            raise LinkDown("bind refused", fix="check the route's system id and password file")
        bind = _Bind(client)
        self._bind = bind
        self.binds += 1
        self._bound.set()
        log.info("SMPP route %s: bound as transceiver", route.name)
        return bind

    def _read(self, bind: _Bind) -> None:
        while not self._stop.is_set():
            try:
                pdu = bind.client.read_pdu()
            except socket.timeout:
                if bind.unanswered_links >= 2:
                    raise LinkDown("no answer to enquire_link") from None
                bind.unanswered_links += 1
                self._send(bind, "enquire_link")
                continue
            bind.unanswered_links = 0
            self._dispatch(bind, pdu)

    def _dispatch(self, bind: _Bind, pdu) -> None:
        command = pdu.command
        if command == "submit_sm_resp":
            waiting = bind.pending.pop(pdu.sequence, None)
            if waiting is not None:
                answer, part = waiting
                submitted = None
                if pdu.status == C.SMPP_ESME_ROK:
                    # known before the next PDU is read: its receipt may come right after
                    submitted = Submitted(part.ref, part.part, _text(pdu.message_id))
                    self._parts[submitted.message_id] = submitted
                    while len(self._parts) > MAX_TRACKED:     # receipts that never came
                        self._parts.popitem(last=False)
                answer.set_result((pdu.status, submitted))
                self._release_early(bind)
        elif command == "deliver_sm":
            self._delivered(bind, pdu)
        elif command == "enquire_link":
            self._reply(bind, "enquire_link_resp", pdu)
        elif command == "unbind":
            self._reply(bind, "unbind_resp", pdu)
            raise LinkDown("the SMSC unbound")
        elif command == "generic_nack":
            waiting = bind.pending.pop(pdu.sequence, None)
            if waiting is not None:
                waiting[0].set_result((pdu.status, None))
            self._release_early(bind)

    def _delivered(self, bind: _Bind, pdu) -> None:
        status = C.SMPP_ESME_ROK
        try:
            if is_receipt(pdu.esm_class):
                receipt = parse_receipt(pdu.short_message,
                                        getattr(pdu, "receipted_message_id", None),
                                        getattr(pdu, "message_state", None))
                if receipt is not None and self.on_receipt is not None:
                    if receipt.message_id in self._parts or not bind.pending:
                        self._receipt(receipt)
                    else:
                        bind.early.append(receipt)
            elif self.on_inbound is not None:
                self.on_inbound(Inbound(_text(pdu.source_addr), _decode(pdu),
                                        f"smpp:{self.route.name}",
                                        international=pdu.source_addr_ton == TON_INTERNATIONAL))
        except Exception:
            log.exception("SMPP route %s: a deliver_sm handler failed; the SMSC will retry",
                          self.route.name)
            status = C.SMPP_ESME_RX_T_APPN
        self._send(bind, "deliver_sm_resp", sequence=pdu.sequence, status=status)

    def _receipt(self, receipt: Receipt) -> None:
        part = self._parts.get(receipt.message_id)
        if receipt.outcome != "pending":
            self._parts.pop(receipt.message_id, None)
        self.on_receipt(part, receipt)

    def _release_early(self, bind: _Bind) -> None:
        # a held receipt goes once its part is known, or unmatched once nothing is awaited
        held, bind.early = bind.early, []
        for receipt in held:
            if receipt.message_id in self._parts or not bind.pending:
                try:
                    self._receipt(receipt)
                except Exception:
                    log.exception("SMPP route %s: a receipt handler failed", self.route.name)
            else:
                bind.early.append(receipt)

    def _reply(self, bind: _Bind, command: str, pdu) -> None:
        self._send(bind, command, sequence=pdu.sequence)

    def _send(self, bind: _Bind, command: str, sequence: int | None = None,
              waiting: tuple[Future, Submitted] | None = None, **fields):
        # made and sent under one lock: smpplib's sequence counter is not thread-safe
        with self._send_lock:
            pdu = smpplib.smpp.make_pdu(command, client=bind.client, **fields)
            if sequence is not None:
                pdu.sequence = sequence
            if waiting is not None:
                bind.pending[pdu.sequence] = waiting
            try:
                bind.client.send_pdu(pdu)
            except BaseException:
                if waiting is not None:
                    bind.pending.pop(pdu.sequence, None)
                raise
        return pdu

    def _drop(self, bind: _Bind | None) -> None:
        self._bound.clear()
        if bind is None:
            return
        if self._bind is bind:
            self._bind = None
        _close(bind.client)
        for sequence in list(bind.pending):
            waiting = bind.pending.pop(sequence, None)
            if waiting is not None and not waiting[0].done():
                waiting[0].set_exception(LinkDown("link lost"))
        self._release_early(bind)


def _decode(pdu) -> str:
    raw = pdu.short_message or b""
    if pdu.esm_class & ESM_UDHI and raw:
        raw = raw[raw[0] + 1:]                      # the user data header
    coding = pdu.data_coding or 0
    if coding == 0x08:
        return raw.decode("utf-16-be", errors="replace")
    if coding in (0x03, 0x01):
        return raw.decode("latin-1")
    try:
        return raw.decode("gsm03.38")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _text(value) -> str:
    if value is None:
        return ""
    return (value.decode("latin-1") if isinstance(value, bytes) else str(value)).strip("\x00")


def _close(client) -> None:
    try:
        if client._socket is not None:
            client._socket.close()
            client._socket = None
        client.state = C.SMPP_CLIENT_STATE_CLOSED
    except OSError:
        pass


def _why(exc: BaseException) -> str:
    if isinstance(exc, ScError):
        return exc.one_line()
    return str(exc) or type(exc).__name__
