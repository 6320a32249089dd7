import pytest

from sc_asterisk.db import Database


@pytest.fixture
def db(tmp_path):
    """A fresh SQLite database with the full schema."""
    database = Database(f"sqlite:///{tmp_path / 'test.db'}")
    database.upgrade()
    return database
