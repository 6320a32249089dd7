"""Lab tier: a real Asterisk (the cached Debian sid root) and SIPp callees on loopback."""
import os
import shutil
import subprocess
import uuid

import pytest
from harness import reap_started
from sqlalchemy import create_engine, text
from sc_asterisk.config import Settings
from sc_asterisk.db import Database
from sc_asterisk.keys import key_path, read_key, record_key


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


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home of the test's own (secrets, opt-out journal) holding the installation's key (the
    lab's FastAGI token comes from it), shared by the controllers the test starts. A module
    uses it for every test with ``pytestmark = pytest.mark.usefixtures("home")``."""
    path = tmp_path / "home"
    (path / "secrets").mkdir(parents=True, mode=0o700)
    shutil.copy2(key_path(Settings.load()), key_path(Settings.load(home=path)))
    monkeypatch.setenv("SC_ASTERISK_HOME", str(path))
    return path


@pytest.fixture
def pg_db():
    """A database of the test's own on the PostgreSQL that .ci/run starts, migrated and
    holding the installation's key check value (as the ``db`` fixture does)."""
    url = os.environ.get("SC_ASTERISK_TEST_PG")
    if not url:
        pytest.fail("SC_ASTERISK_TEST_PG is not set: .ci/run starts PostgreSQL and sets it")
    name = f"sc_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database = Database(url.rsplit("/", 1)[0] + "/" + name)
    database.upgrade()
    record_key(database, read_key(Settings.load()), "test")
    yield database
    database.engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
