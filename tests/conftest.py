import pytest

from sc_asterisk.db import Database


@pytest.fixture
def db(tmp_path):
    """A fresh SQLite database with the full schema."""
    database = Database(f"sqlite:///{tmp_path / 'test.db'}")
    database.upgrade()
    return database


@pytest.fixture(autouse=True, scope="session")
def _private_home(tmp_path_factory):
    """Never touch the real ~/.local/share/sc-asterisk: secrets and default databases of the
    test run (and of the controllers it starts) live in a temporary home."""
    import os
    home = tmp_path_factory.mktemp("home")
    previous = os.environ.get("SC_ASTERISK_HOME")
    os.environ["SC_ASTERISK_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("SC_ASTERISK_HOME", None)
    else:
        os.environ["SC_ASTERISK_HOME"] = previous
