"""``sc-asterisk web`` as its own process: it listens where --bind says, on the CLI's database,
answers 401 without a token and 200 with one, and shuts down cleanly on SIGTERM."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_web_serves_the_api_on_the_clis_database(shared_web):
    port = free_port()
    env = {**os.environ, "SC_ASTERISK_DB": shared_web.url,
           "SC_ASTERISK_HOME": str(shared_web.home)}
    proc = subprocess.Popen([sys.executable, "-m", "sc_asterisk", "web", "--bind",
                             f"127.0.0.1:{port}"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v1/campaigns", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "sc-asterisk web never listened"
                time.sleep(0.1)
        assert response.status_code == 401
        response = httpx.get(f"http://127.0.0.1:{port}/api/v1/campaigns",
                             headers={"Authorization": f"Bearer {shared_web.tokens['operator']}"})
        assert response.status_code == 200 and response.json()["total"] == 4
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=20)[0]
    # uvicorn shuts down cleanly, then re-raises the signal (as systemd expects of a SIGTERM)
    assert "Application shutdown complete" in output
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert shared_web.tokens["operator"] not in output       # the token never reaches the log
