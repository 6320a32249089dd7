"""Atomic file writes: a reader sees the old file or the whole new one, never a torn one.

Every file the controller writes for someone else to read (Asterisk configuration, prompts,
secrets, exports) goes through here, so the temp-file rules live in one place.
"""
from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

# O_NOFOLLOW with O_EXCL: a symlink planted at the temp name makes the open fail instead of
# writing through it (O_EXCL alone already refuses it; O_NOFOLLOW says so explicitly).
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_TRIES = 8


def _temp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")


def _open_temp(target: Path, mode: int) -> tuple[Path, int]:
    for attempt in range(_TRIES):
        tmp = _temp_path(target)
        try:
            return tmp, os.open(tmp, _CREATE, mode)
        except FileExistsError:
            if attempt == _TRIES - 1:
                raise
    raise AssertionError("unreachable")  # the loop returns or raises


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_writer(path: str | os.PathLike, mode: int = 0o600, *,
                  replace: bool = True) -> Iterator[IO[bytes]]:
    """A binary stream whose content appears at *path* only if the block succeeds.

    The temp file is created beside *path* (``O_EXCL|O_NOFOLLOW``) with *mode* whatever the
    umask, fsynced, then renamed over *path* and the directory fsynced; on any error it is
    removed and the old file stays. With ``replace=False`` an existing *path* is kept and
    ``FileExistsError`` raised (for values that must be created once, like a key).

    Example::

        with atomic_writer("/srv/sc/sounds/tone.wav", 0o644) as out:
            out.write(data)
    """
    target = Path(path)
    tmp, fd = _open_temp(target, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)  # os.open's mode went through the umask
            yield out
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # atomic and never clobbers: FileExistsError if taken
            tmp.unlink()
        _fsync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike, data: bytes | str, mode: int = 0o600, *,
                 replace: bool = True) -> Path:
    """Write *data* (str is UTF-8) to *path* atomically with file mode *mode*; returns the path.

    Example: ``atomic_write(conf_dir / "sc-trunks.conf", text, 0o640)``
    """
    with atomic_writer(path, mode, replace=replace) as out:
        out.write(data.encode() if isinstance(data, str) else data)
    return Path(path)
