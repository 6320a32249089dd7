"""Secrets (AMI and SIP passwords) live in 0600 files under ``Settings.secrets_dir``, never in
the database, never in a log line or an error message."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from ..asterisk_conf.trunks import check_secret
from ..errors import ConfigError
from ..files import atomic_write


def secret_path(secrets_dir: Path, kind: str, name: str) -> Path:
    """Where the secret of a trunk or node is kept. Example: ``secrets/trunk-acme``."""
    return Path(secrets_dir) / f"{kind}-{name}"


def store_secret(path: Path, value: str) -> Path:
    """Write *value* to *path* atomically with mode 0600 (directory 0700); returns *path*.

    Example: ``store_secret(settings.secrets_dir / "trunk-acme", "s3cret")``
    """
    check_secret(value)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    atomic_write(path, value + "\n", 0o600)
    return path


def read_secret(path: str | os.PathLike) -> str:
    """Read a secret file; refuses one that other users may read (like ssh does)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        value = path.read_text().strip()
    except FileNotFoundError:
        raise ConfigError(f"secret file {path} is missing",
                          fix="set the secret again (edit the trunk or node)") from None
    except PermissionError:
        raise ConfigError(f"cannot read secret file {path}",
                          fix="run as the user that owns it") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"secret file {path} is readable by other users",
                          fix=f"chmod 600 {path}")
    if not value:
        raise ConfigError(f"secret file {path} is empty", fix="set the secret again")
    return value


def read_secret_source(path: str | os.PathLike) -> str:
    """Read a secret the operator hands us (first line of a file, ``-`` for stdin)."""
    import sys
    if str(path) == "-":
        value = sys.stdin.readline()
    else:
        try:
            with open(path) as f:
                value = f.readline()
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}",
                              fix="give a readable file holding the secret") from None
    value = value.rstrip("\r\n")
    if not value:
        raise ConfigError(f"no secret in {path}", fix="put the secret on the file's first line")
    return check_secret(value)
