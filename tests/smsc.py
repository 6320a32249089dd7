"""A real SMSC for the SMPP tests: the ``smpp34`` package's server (an independent SMPP 3.4
implementation, Rust core), run on its own thread and event loop, with a small script: accept
or throttle each submit_sm, answer with delivery receipts, send mobile-originated messages,
drop every connection."""
from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass

import smpp34


@dataclass
class Seen:
    destination: str
    destination_ton: int
    source: str
    data_coding: int
    esm_class: int
    registered_delivery: int
    short_message: bytes


class Smsc:
    def __init__(self):
        self.port = getattr(self, "_fixed", None) or _free_port()
        self.submits: list[Seen] = []      # accepted ones
        self.throttled = 0                 # submits refused with ESME_RTHROTTLED
        self.throttle_next = 0
        self.receipts = True
        self.receipt_first = False         # send the receipt before the submit_sm_resp
        self.binds = 0
        self._esme = None
        self._ids = 0
        self._loop = asyncio.new_event_loop()
        self._server = None
        self._task = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.call(self._start())

    def call(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def close(self):
        self.call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def restart(self):
        """Stop the server (every bound session goes) and start it again on the same port."""
        self.call(self._stop())
        self.call(self._start())

    def send_mo(self, source: str, text: str, ton: int = 1):
        """A mobile-originated message to the bound ESME; its deliver_sm_resp status."""
        async def go():
            # the ESME may be bound before the server's loop has seen its session
            while self._esme is None:
                await asyncio.sleep(0.01)
            resp = await self._esme.deliver_sm("36180", text.encode("utf-16-be"),
                                               source_addr=source, source_addr_ton=ton,
                                               source_addr_npi=1, data_coding=8)
            return resp.command_status
        return self.call(asyncio.wait_for(go(), 10))

    async def _start(self):
        self._server = smpp34.Server("127.0.0.1", self.port, system_id="SMSC")
        await self._server.start()
        self._task = asyncio.ensure_future(self._serve(self._server))

    async def _stop(self):
        if self._task is not None:
            self._task.cancel()
        if self._server is not None:
            await self._server.stop()
        self._esme = None

    async def _serve(self, server):
        while True:
            event = await server.next()
            if isinstance(event, smpp34.Esme):
                self.binds += 1
                self._esme = event
            elif isinstance(event, smpp34.SubmitSmEvent):
                if self.throttle_next:
                    self.throttle_next -= 1
                    self.throttled += 1
                    event.reject(smpp34.ESME_RTHROTTLED)
                    continue
                self._ids += 1
                message_id = f"M{self._ids:04d}"
                self.submits.append(Seen(event.destination_addr, event.dest_addr_ton,
                                         event.source_addr, event.data_coding, event.esm_class,
                                         event.registered_delivery, event.short_message))
                if not self.receipt_first:
                    event.accept(message_id)
                if self.receipts and event.registered_delivery & 1:
                    text = (f"id:{message_id} sub:001 dlvrd:001 submit date:2612070500 "
                            f"done date:2612070501 stat:DELIVRD err:000 text:").encode()
                    await self._esme.deliver_sm(event.source_addr, text,
                                                source_addr=event.destination_addr,
                                                esm_class=0x04)
                if self.receipt_first:
                    event.accept(message_id)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(port: int) -> None:
    """Run as a process (``python tests/smsc.py PORT``) that a test can kill: one line on stdout
    per bind and per accepted submit_sm."""
    import sys
    import time

    class Printing(Smsc):
        def __init__(self, port):
            self._fixed = port
            super().__init__()

        async def _serve(self, server):
            binds, submits = self.binds, len(self.submits)
            task = asyncio.ensure_future(super()._serve(server))
            while not task.done():
                await asyncio.sleep(0.02)
                if self.binds != binds:
                    binds = self.binds
                    print("bound", flush=True)
                while submits < len(self.submits):
                    print("submit", self.submits[submits].short_message.hex(), flush=True)
                    submits += 1

    smsc = Printing(port)
    print("listening", smsc.port, flush=True)
    while True:
        time.sleep(3600)
        sys.stdout.flush()


if __name__ == "__main__":
    import sys
    main(int(sys.argv[1]))
