"""``python -m bench.viewers BASE CAMPAIGN N``: N console viewers of a campaign, each streaming
its live figures (the campaign page's server-sent events) and reloading the page every two
seconds, until standard input ends (the token is its first line); then one JSON line of what
they received. Run by ``bench/console.py`` in a process of its own."""
from __future__ import annotations

import json
import sys
import threading

import httpx


class Viewers:
    """Console clients in threads: each streams the live figures and reloads the page."""

    def __init__(self, base: str, token: str, campaign: str):
        self.base, self.campaign = base, campaign
        self.headers = {"Authorization": f"Bearer {token}"}
        self.events = self.pages = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self, n: int) -> None:
        for _ in range(n):
            for target in (self._stream, self._reload):
                thread = threading.Thread(target=target, daemon=True)
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _count(self, what: str) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)

    def _stream(self) -> None:
        url = f"{self.base}/api/v1/campaigns/{self.campaign}/events?every=1"
        while not self._stop.is_set():
            try:
                with httpx.stream("GET", url, headers=self.headers, timeout=10) as response:
                    for line in response.iter_lines():
                        if line.startswith("event: status"):
                            self._count("events")
                        if self._stop.is_set():
                            return
            except httpx.HTTPError as exc:
                self.errors.append(f"stream: {type(exc).__name__}")

    def _reload(self) -> None:
        with httpx.Client(headers=self.headers, timeout=10) as client:
            while not self._stop.wait(2.0):
                try:
                    if client.get(f"{self.base}/campaigns/{self.campaign}").status_code == 200:
                        self._count("pages")
                except httpx.HTTPError as exc:
                    self.errors.append(f"page: {type(exc).__name__}")


def main() -> None:
    base, campaign, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    viewers = Viewers(base, sys.stdin.readline().strip(), campaign)
    viewers.start(n)
    sys.stdin.read()                  # until the bench closes our input
    viewers.stop()
    print(json.dumps({"events": viewers.events, "pages": viewers.pages,
                      "errors": viewers.errors[:20]}), flush=True)


if __name__ == "__main__":
    main()
