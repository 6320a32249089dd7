"""The package works from a wheel, outside the checkout: the dialplan, prompts and migrations
travel inside it (setup.py), and nothing reads the source tree.

How: a wheel of the checkout is built and installed into a fresh venv under tmp_path. Its
dependencies are borrowed from this interpreter through a ``.pth`` file of plain path entries
(no download; the editable install's finder, if any, is not activated by a plain entry), and the
checkout itself is left out, so only the wheel's copy of sc_asterisk can be imported.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sqlite3
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

CHECKOUT = Path(__file__).resolve().parents[2]
# What git ignores, and what a build would leave behind: not part of the checkout's wheel.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                    ".pytest_cache", ".hypothesis", "var", "*.db", "out")


def run(*cmd, cwd, env=None, input=None) -> str:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, input=input,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{cmd}: {done.stdout[-1500:]}{done.stderr[-1500:]}"
    return done.stdout


def build_wheel(tmp_path: Path) -> Path:
    """A wheel of a copy of the checkout (a build in place would leave build/ behind, and a
    stale build/ could slip old files into the wheel)."""
    if not (importlib.util.find_spec("wheel")
            or importlib.util.find_spec("setuptools.command.bdist_wheel")):
        pytest.fail("this setuptools needs the `wheel` package to build a wheel: "
                    "pip install -e '.[test]' (the test extra has it)")
    src = tmp_path / "src"
    shutil.copytree(CHECKOUT, src, ignore=NOT_SOURCE)
    out = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
        "-q", "-w", out, src, cwd=tmp_path)
    (wheel,) = out.glob("sc_asterisk-*.whl")
    return wheel


def fresh_venv(tmp_path: Path, wheel: Path) -> tuple[Path, dict]:
    """A venv with only the wheel installed; the dependencies come from this interpreter's
    path, minus the checkout. Returns its bin directory and an environment to run it in."""
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SC_ASTERISK_DB")}
    env["SC_ASTERISK_HOME"] = str(tmp_path / "home")
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
        "--no-index", wheel, cwd=tmp_path, env=env)
    # Borrowed only now: pip must see an environment without any other sc_asterisk.
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                    cwd=tmp_path, env=env).strip())
    # Every path entry but those that hold a source copy of sc_asterisk (the checkout, and
    # pytest's rootdir); the venv may sit inside the checkout (.venv), and its editable
    # install's finder is not activated by a plain entry.
    deps = [p for p in sys.path if p and Path(p).is_dir()
            and not (Path(p) / "sc_asterisk").exists()]
    (site / "borrowed-dependencies.pth").write_text("\n".join(deps) + "\n")
    return venv / "bin", env


def tone(path: Path, ms: int = 500) -> Path:
    """A mono 16-bit 8 kHz WAV of a square wave."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        period = b"\xff\x3f" * 10 + b"\x01\xc0" * 10     # +16383 / -16383, 400 Hz
        w.writeframes(period * (8 * ms // 20))
    return path


def test_wheel_installed_outside_the_checkout_upgrades_imports_and_renders(tmp_path):
    wheel = build_wheel(tmp_path)
    bin_dir, env = fresh_venv(tmp_path, wheel)
    work = tmp_path / "work"     # the current directory: outside the checkout
    work.mkdir()

    def sc(*args, input=None) -> str:
        return run(bin_dir / "sc-asterisk", *args, cwd=work, env=env, input=input)

    where = run(bin_dir / "python", "-c", "import sc_asterisk.paths as p; print(p.__file__, "
                "p.MIGRATIONS_DIR, p.DIALPLAN_DIR, p.SOUNDS_DIR)", cwd=work, env=env).split()
    for path in where:           # the wheel's copy, not the checkout
        assert Path(path).is_relative_to(bin_dir.parent), where
    prompts = sorted(p.name for p in (CHECKOUT / "sounds").glob("*.wav"))
    assert prompts and sorted(p.name for p in Path(where[3]).glob("*.wav")) == prompts

    web = run(bin_dir / "python", "-c", "from pathlib import Path; import sc_asterisk.web as w; "
              "d = Path(w.__file__).parent; print(sorted(p.name for p in "
              "[*(d / 'templates').glob('*.html'), *(d / 'static').glob('*')]))",
              cwd=work, env=env)
    assert all(name in web for name in ("login.html", "campaign.html", "console.js",
                                        "console.css")), web

    sc("db", "upgrade")
    db = tmp_path / "home" / "sc-asterisk.db"
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert {"campaign", "contact", "call_attempt", "call_record", "audio_asset"} <= tables
    cfg = Config()
    cfg.set_main_option("script_location", str(CHECKOUT / "migrations"))
    assert revision == ScriptDirectory.from_config(cfg).get_current_head()   # every migration

    assert sc("audio", "import", tone(tmp_path / "tone.wav"), "--name", "tone").startswith(
        "imported tone: 500 ms")
    assert sc("audio", "list").splitlines()[1].split()[:2] == ["tone", "500"]

    sc("node", "add", "paris-1", "--ami", "10.0.0.5", "--agi", "10.0.0.2:4573",
       "--ami-secret-file", "-", "--sounds-dir", tmp_path / "snd",
       "--asterisk-sounds-dir", "/var/lib/asterisk/sounds/sc", "--config-dir", tmp_path / "etc",
       input="ami-s3cret\n")
    out = tmp_path / "etc-full"
    sc("asterisk", "render", "--node", "paris-1", "--full", "--out", out)
    dialplan = (out / "sc-dialplan.conf").read_text()
    assert "[sc-broadcast]" in dialplan
    assert (CHECKOUT / "dialplan" / "sc-dialplan.conf").read_text().strip() in dialplan
    assert "[sc-controller]" in (out / "manager.conf").read_text()
