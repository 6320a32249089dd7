import os
import secrets

import pytest
from hypothesis import settings

from sc_asterisk.config import Settings
from sc_asterisk.db import Database
from sc_asterisk.files import atomic_write
from sc_asterisk.keys import read_key, record_key
from sc_asterisk.lab.instance import LabInstance, LabPorts
from sc_asterisk.lab.root import DEFAULT_CACHE, is_provisioned, root_path

# CI runs the property tests on a fixed seed: a build passes or fails on its code, not on the
# draw. Local runs (CI unset) keep exploring new examples, which is how fuzzing finds bugs.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def db(tmp_path):
    """A fresh SQLite database with the full schema."""
    database = Database(f"sqlite:///{tmp_path / 'test.db'}")
    database.upgrade()
    # as `db upgrade` does on a fresh install: the test home's key is this database's
    record_key(database, read_key(Settings.load()), "test")
    return database


@pytest.fixture(autouse=True, scope="session")
def _private_home(tmp_path_factory):
    """Never touch the real ~/.local/share/sc-asterisk: secrets and default databases of the
    test run (and of the controllers it starts) live in a temporary home."""
    import os
    home = tmp_path_factory.mktemp("home")
    # The installation key is made explicitly (nothing makes it on first read any more).
    (home / "secrets").mkdir(mode=0o700)
    atomic_write(home / "secrets" / "installation-key", secrets.token_hex(32) + "\n", 0o600)
    previous = os.environ.get("SC_ASTERISK_HOME")
    os.environ["SC_ASTERISK_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("SC_ASTERISK_HOME", None)
    else:
        os.environ["SC_ASTERISK_HOME"] = previous


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
