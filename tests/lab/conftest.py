"""Lab tier: a real Asterisk (the cached Debian sid root) and SIPp callees on loopback."""
import subprocess

import pytest
from harness import reap_started


def pytest_collection_modifyitems(items):
    for item in items:
        if "/tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


@pytest.fixture
def prompts(tmp_path):
    """Short test prompts of exact length: message 4000 ms, notice 3000 ms, intro 1000 ms."""
    out = {}
    for name, seconds, freq in (("message", 4, 440), ("notice", 3, 660), ("intro", 1, 550)):
        path = tmp_path / f"{name}.wav"
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path),
                        "synth", str(seconds), "sine", str(freq)], check=True)
        out[name] = path
    return out


@pytest.fixture(autouse=True)
def _no_controller_outlives_its_test():
    yield
    reap_started()
