"""Provision the lab's Asterisk: Debian sid's packages debootstrapped into a cached root.

Debian 12 ships no Asterisk; sid has Asterisk 22. The root is built in a temporary directory
and renamed into place only when complete, so an interrupted build never leaves half a root.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import LabError

DEFAULT_CACHE = Path(os.environ.get("SC_ASTERISK_LAB_CACHE", "/var/cache/sc-asterisk"))
PACKAGES = ("asterisk", "asterisk-modules", "asterisk-config")
SUITE = "sid"


def root_path(cache_dir: Path = DEFAULT_CACHE) -> Path:
    return cache_dir / "root"


def is_provisioned(root: Path) -> bool:
    return (root / "usr/sbin/asterisk").exists()


def ensure_root(cache_dir: Path = DEFAULT_CACHE, mirror: str | None = None,
                log=print) -> Path:
    """Return the provisioned root, building it the first time (~1 min, ~500 MB).

    Example: ``ensure_root(Path("/var/cache/sc-asterisk"))`` -> ``/var/cache/sc-asterisk/root``
    """
    root = root_path(cache_dir)
    if is_provisioned(root):
        return root
    require_root_user()
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise LabError("debootstrap is not installed", fix="apt-get install debootstrap")
    cache_dir.mkdir(parents=True, exist_ok=True)
    building = cache_dir / "root.building"
    if building.exists():
        shutil.rmtree(building)
    cmd = [debootstrap, "--variant=minbase", "--include=" + ",".join(PACKAGES), SUITE,
           str(building)]
    if mirror:
        cmd.append(mirror)
    log(f"provisioning Asterisk (Debian {SUITE}) into {root}: about a minute the first time")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        raise _debootstrap_error(proc.stdout)
    if not is_provisioned(building):
        shutil.rmtree(building, ignore_errors=True)
        raise LabError("debootstrap finished but the root has no asterisk binary",
                       fix="retry; if it persists, check that sid still ships 'asterisk'")
    os.replace(building, root)
    return root


def require_root_user() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (debootstrap and chroot)",
                       fix="run it as root, e.g. sudo sc-asterisk lab up")


def asterisk_version(root: Path) -> str:
    out = subprocess.run(["chroot", str(root), "asterisk", "-V"], capture_output=True, text=True)
    return out.stdout.strip()


def module_dir(root: Path) -> str:
    """The module directory as Asterisk inside the root sees it (depends on the architecture)."""
    found = sorted(root.glob("usr/lib/*/asterisk/modules"))
    if not found:
        raise LabError(f"no Asterisk modules under {root}", fix="delete the root and run lab up again")
    return "/" + str(found[0].relative_to(root))


def _debootstrap_error(output: str) -> LabError:
    tail = " ".join(output.strip().splitlines()[-3:])[-300:]
    lowered = output.lower()
    if any(s in lowered for s in ("failed getting release file", "couldn't download",
                                   "temporary failure", "could not resolve", "connection refused")):
        return LabError(f"the Debian mirror could not be reached: {tail}",
                        fix="check the network or pass --mirror URL of a reachable Debian mirror")
    return LabError(f"debootstrap failed: {tail}", fix="see the message above; retry with --mirror")
