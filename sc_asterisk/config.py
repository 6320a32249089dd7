"""Installation settings: where state lives, which database, the per-installation secrets.

Everything comes from the environment (``SC_ASTERISK_HOME``, ``SC_ASTERISK_DB``, or
``SC_ASTERISK_DB_FILE`` naming a file that holds the URL: a container's secret) or CLI options;
nothing is read from the current directory by surprise.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .files import atomic_write

DEFAULT_HOME = Path(os.path.expanduser("~")) / ".local" / "share" / "sc-asterisk"


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Example: ``Settings.load().db_url``."""

    home: Path
    db_url: str

    @classmethod
    def load(cls, db_url: str | None = None, home: str | os.PathLike | None = None) -> "Settings":
        home_path = Path(home or os.environ.get("SC_ASTERISK_HOME") or DEFAULT_HOME)
        url = (db_url or os.environ.get("SC_ASTERISK_DB") or _url_from_file("SC_ASTERISK_DB_FILE")
               or f"sqlite:///{home_path / 'sc-asterisk.db'}")
        if "://" not in url:
            raise ConfigError(f"database URL {url!r} has no scheme",
                              fix="use e.g. sqlite:///path/file.db or postgresql://user@host/db")
        return cls(home=home_path, db_url=url)

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    def secret(self, name: str, nbytes: int = 24) -> str:
        """Read the named secret, creating it (random, mode 0600) the first time.

        Not for the installation key, which only ``sc-asterisk key init`` makes
        (``sc_asterisk.keys.load_key`` reads and checks it).

        Example: ``settings.secret("lab-ami")`` -> hex string, stable across runs.
        """
        if name == "installation-key":
            raise ValueError("the installation key is read with sc_asterisk.keys.load_key")
        return read_or_create_secret(self.secrets_dir / name, nbytes)


def _url_from_file(variable: str) -> str | None:
    """The database URL held by the file the environment *variable* names (its first line), so
    that a URL with a password travels as a secret file, never in the environment."""
    path = os.environ.get(variable)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            url = handle.readline().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {variable} {path}: {exc.strerror}",
                          fix="make the file readable by this user, or unset the variable") from None
    if not url:
        raise ConfigError(f"{variable} {path} is empty",
                          fix="write the database URL on its first line") from None
    return url


def open_private(path, mode: str = "w", **kwargs):
    """Open *path* for writing, created mode 0600 whatever the umask: for files that hold
    personal data (exports, reject files) or secrets."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)
    return os.fdopen(fd, mode, **kwargs)


def read_or_create_secret(path: Path, nbytes: int = 24) -> str:
    """Return the secret stored at *path*; generate it with mode 0600 if absent. Never logged."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = secrets.token_hex(nbytes)
    try:
        atomic_write(path, value + "\n", 0o600, replace=False)
    except FileExistsError:
        return path.read_text().strip()  # another process created it first: theirs wins
    return value
