"""The soak tier: long, bounded runs through the lab, never part of the default `pytest` run.

Run it with ``SC_ASTERISK_SOAK=1 pytest tests/soak`` (as root, on an otherwise idle machine);
``SC_ASTERISK_SOAK_CALLS`` and ``SC_ASTERISK_SOAK_CPS`` size it.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

# The `lab` fixture (the lab Asterisk) comes from tests/conftest.py.
if os.environ.get("SC_ASTERISK_SOAK") != "1":
    collect_ignore_glob = ["*"]

# The lab tier's campaign helpers (tests/lab/campaigns.py).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lab"))


@pytest.fixture
def short_prompts(tmp_path):
    """Short prompts so a call lasts about a second: message 600 ms, notice 400 ms."""
    out = {}
    for name, ms, freq in (("message", 600, 440), ("notice", 400, 660)):
        path = tmp_path / f"{name}.wav"
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path),
                        "synth", f"{ms / 1000}", "sine", str(freq)], check=True)
        out[name] = path
    return out
