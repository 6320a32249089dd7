"""The one atomic-write helper: mode, no symlink following, nothing torn or left behind."""
from __future__ import annotations

import os
import stat

import pytest

from sc_asterisk import files
from sc_asterisk.files import atomic_write, atomic_writer


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644])
def test_mode_is_the_callers_whatever_the_umask(tmp_path, mode):
    old = os.umask(0o077)
    try:
        path = atomic_write(tmp_path / "f", "text", mode)
    finally:
        os.umask(old)
    assert path.read_text() == "text"
    assert _mode(path) == mode


def test_replaces_an_existing_file_and_takes_the_new_mode(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"old")
    os.chmod(target, 0o666)
    atomic_write(target, b"new", 0o600)
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600
    assert _leftovers(tmp_path) == []


def test_a_symlink_at_the_temp_name_is_not_followed(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    planted = tmp_path / ".f.planted.tmp"
    planted.symlink_to(victim)
    names = iter([planted, tmp_path / ".f.fresh.tmp"])
    monkeypatch.setattr(files, "_temp_path", lambda target: next(names))
    atomic_write(tmp_path / "f", "data", 0o600)
    assert victim.read_text() == "precious"
    assert planted.is_symlink()  # not ours: left alone
    assert (tmp_path / "f").read_text() == "data"
    assert not (tmp_path / ".f.fresh.tmp").exists()


def test_only_planted_names_fail_without_touching_them(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    planted = tmp_path / ".f.planted.tmp"
    planted.symlink_to(victim)
    monkeypatch.setattr(files, "_temp_path", lambda target: planted)
    with pytest.raises(FileExistsError):
        atomic_write(tmp_path / "f", "data")
    assert victim.read_text() == "precious" and planted.is_symlink()
    assert not (tmp_path / "f").exists()


def test_a_failure_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "f"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_writer(target, 0o600) as out:
            out.write(b"half of the new")
            raise RuntimeError("disk on fire")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_a_failed_rename_leaves_no_temp_file(tmp_path):
    target = tmp_path / "d"
    target.mkdir()
    (target / "inside").write_text("x")  # a non-empty directory cannot be replaced by a file
    with pytest.raises(OSError):
        atomic_write(target, "data")
    assert (target / "inside").read_text() == "x"
    assert _leftovers(tmp_path) == []


def test_no_replace_keeps_what_is_there(tmp_path):
    target = tmp_path / "key"
    atomic_write(target, "first", replace=False)
    with pytest.raises(FileExistsError):
        atomic_write(target, "second", replace=False)
    assert target.read_text() == "first"
    assert _leftovers(tmp_path) == []
