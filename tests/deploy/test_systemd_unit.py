"""Issue 18: the systemd unit's install steps (its header comment) run in a Debian 12 test root,
a throw-away container of the debootstrapped bookworm base, with the source in /opt/sc-asterisk;
then `systemd-analyze verify` of the installed unit, and the user, directories and modes the
steps promise. Only `systemctl start` is left out: no systemd runs inside the test root."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from test_deploy import _require_tools  # noqa: F401  (same tools, same skip rule)

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "docker" / "sc-asterisk.service"
BASE = "sc-asterisk-base/debian:bookworm"


def install_steps() -> list[str]:
    """The commands of the unit's header comment, in order (trailing comments dropped)."""
    header = UNIT.read_text().split("[Unit]")[0].splitlines()
    start = next(i for i, line in enumerate(header) if "Install, as root" in line)
    steps = []
    for line in header[start + 1:]:
        if not line.startswith("#   "):
            if steps:
                break
            continue
        steps.append(line[4:].split("   #")[0].strip())
    return steps


def test_the_header_lists_the_install_steps_and_ends_with_start():
    steps = install_steps()
    assert steps[0].startswith("useradd ") and steps[-1] == "systemctl start sc-asterisk"
    assert any("systemctl enable sc-asterisk" in s for s in steps)


def test_the_install_steps_give_a_unit_that_verifies(tmp_path):
    _require_tools()
    subprocess.run([str(ROOT / "docker/base/build-base-images"), "bookworm"], check=True,
                   capture_output=True)
    *steps, start = install_steps()
    script = "\n".join([
        "set -eu",
        "apt-get update -qq",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends"
        " systemd python3-venv ca-certificates >/dev/null",
        # the source where the header says it is (a copy: pip builds in the tree)
        "mkdir -p /opt/sc-asterisk && tar -C /src --exclude=./.venv --exclude=./.git"
        " --exclude=./build -c . | tar -C /opt/sc-asterisk -x",
        *steps,
        "echo '--- verify'",
        "systemd-analyze verify /etc/systemd/system/sc-asterisk.service",
        "echo '--- facts'",
        "getent passwd sc-asterisk | cut -d: -f1,6,7",
        "stat -c '%n %U:%G %a' /var/lib/sc-asterisk /srv/sc-asterisk /etc/sc-asterisk"
        " /etc/sc-asterisk/env",
        "systemctl is-enabled sc-asterisk",
        "/opt/sc-asterisk/.venv/bin/sc-asterisk --help >/dev/null && echo runs",
    ])
    done = subprocess.run(["podman", "run", "--rm", "-v", f"{ROOT}:/src:ro", BASE,
                           "sh", "-c", script], capture_output=True, text=True, timeout=900)
    (tmp_path / "systemd.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-2000:]
    verify, facts = done.stdout.split("--- verify\n")[1].split("--- facts\n")
    assert verify.strip() == "", verify          # no warning either
    assert facts.split("\n") == [
        "sc-asterisk:/var/lib/sc-asterisk:/usr/sbin/nologin",
        "/var/lib/sc-asterisk sc-asterisk:sc-asterisk 755",
        "/srv/sc-asterisk sc-asterisk:sc-asterisk 750",
        "/etc/sc-asterisk root:sc-asterisk 750",
        "/etc/sc-asterisk/env root:sc-asterisk 640",
        "enabled",
        "runs",
        "",
    ], facts
