"""Lab tier: a real Asterisk (the cached Debian sid root) and SIPp callees on loopback."""
import os
import subprocess
from pathlib import Path

import pytest

from sc_asterisk.lab.instance import LabInstance, LabPorts
from sc_asterisk.lab.root import DEFAULT_CACHE, is_provisioned, root_path


def pytest_collection_modifyitems(items):
    for item in items:
        if "/tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab():
    """One lab Asterisk for the whole session, on ports shifted by 10000 x offset."""
    if os.geteuid() != 0:
        pytest.fail("lab tests need root: run `sudo make test` (or `make test-unit`)")
    if not is_provisioned(root_path(DEFAULT_CACHE)):
        pytest.fail(f"no Asterisk root in {DEFAULT_CACHE}: run `make lab` first")
    # Parallel developers pick another offset (1-5) so their lab instances do not collide.
    offset = int(os.environ.get("SC_ASTERISK_TEST_LAB_OFFSET", "1"))
    instance = LabInstance(f"pytest{offset}", LabPorts.offset(offset))
    instance.down()
    instance.up()
    yield instance
    instance.down()


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
