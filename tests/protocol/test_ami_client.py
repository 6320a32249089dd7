"""AmiClient against a fake Asterisk Manager on a socket: the traps of panoramisk handled."""
import asyncio
import time

import pytest

from sc_asterisk.ami import AmiClient
from sc_asterisk.errors import AmiError

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


class FakeAmi:
    """Logs in anyone with secret 'good'; records every action; answers as told."""

    def __init__(self, answer_originate=True):
        self.actions: list[dict] = []
        self.connections = 0
        self.answer_originate = answer_originate
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
