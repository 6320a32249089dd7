"""SC_ASTERISK_DB_FILE: the database URL read from a file (a container's secret)."""
import pytest

from sc_asterisk.config import Settings
from sc_asterisk.errors import ConfigError

URL = "postgresql://sc:s3cret@postgres/sc"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("SC_ASTERISK_DB", raising=False)
    monkeypatch.delenv("SC_ASTERISK_DB_FILE", raising=False)


def test_the_url_comes_from_the_file_the_variable_names(tmp_path, monkeypatch):
    secret = tmp_path / "db_url"
    secret.write_text(URL + "\n")
    monkeypatch.setenv("SC_ASTERISK_DB_FILE", str(secret))
    assert Settings.load(home=tmp_path).db_url == URL


def test_an_explicit_url_wins_over_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SC_ASTERISK_DB_FILE", str(tmp_path / "missing"))
    monkeypatch.setenv("SC_ASTERISK_DB", "sqlite:///x.db")
    assert Settings.load(home=tmp_path).db_url == "sqlite:///x.db"
    assert Settings.load(db_url=URL, home=tmp_path).db_url == URL


@pytest.mark.parametrize("content", [None, ""])
def test_a_missing_or_empty_file_is_one_line_naming_the_fix(tmp_path, monkeypatch, content):
    secret = tmp_path / "db_url"
    if content is not None:
        secret.write_text(content)
    monkeypatch.setenv("SC_ASTERISK_DB_FILE", str(secret))
    with pytest.raises(ConfigError) as err:
        Settings.load(home=tmp_path)
    assert "SC_ASTERISK_DB_FILE" in str(err.value) and URL not in str(err.value)
