"""Fixtures of the HTTP API tests: a database with campaigns and calls, one user per role with
an API token, and FastAPI's test client (httpx) over ``https://`` (the session cookie is
Secure)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from bench.synthetic import create_campaign as synthetic_campaign
from bench.synthetic import insert_calls, synthetic_calls
from sc_asterisk.config import Settings
from sc_asterisk.db import AudioAsset, Database
from sc_asterisk.dialer.campaigns import create_campaign
from sc_asterisk.keys import key_init, read_key
from sc_asterisk.users import secrets as user_secrets
from sc_asterisk.users.accounts import add_user
from sc_asterisk.users.roles import ROLES
from sc_asterisk.users.tokens import create_token

PASSWORD = "correct horse battery staple"
SCRIPT = [("message", 20_000), ("notice", 15_000)]


@dataclass
class WebEnv:
    db: Database
    key: str
    home: Path
    url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, role: str | None = None, **kwargs):
        """A test client; with *role*, authenticated by that role's bearer token."""
        from fastapi.testclient import TestClient

        from sc_asterisk.web.app import create_app
        app = create_app(self.db, self.key, **kwargs)
        client = TestClient(app, base_url="https://testserver")
        if role is not None:
            client.headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return client


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing():
    """argon2id with test parameters: the same code path, milliseconds instead of 60 ms."""
    previous = user_secrets.set_hasher(PasswordHasher(time_cost=1, memory_cost=64,
                                                       parallelism=1))
    yield
    user_secrets.set_hasher(previous)


def make_env(tmp_path: Path) -> WebEnv:
    url = f"sqlite:///{tmp_path / 'web.db'}"
    db = Database(url)
    home = tmp_path / "home"
    settings = Settings.load(db_url=url, home=str(home))
    db.upgrade()
    key_init(settings, db)
    env = WebEnv(db, read_key(settings), home, url)
    insert_calls(db, synthetic_campaign(db, "done", SCRIPT), synthetic_calls(40, SCRIPT, seed=5))
    with db.session() as s:
        for name in ("msg", "notice"):
            s.add(AudioAsset(name=name, sha256=hashlib.sha256(name.encode()).hexdigest(),
                             duration_ms=1000, source_filename=f"{name}.wav", data=b""))
        s.flush()
        for name in ("muni", "second", "third"):
            create_campaign(s, name, message="msg", notice="notice",
                            compliance_profile="basic")
        for role in ROLES:
            add_user(s, role, PASSWORD, role, actor="test")
            env.tokens[role] = create_token(s, role, "tests", actor="test")
    return env


@pytest.fixture
def web(tmp_path) -> WebEnv:
    """A fresh database per test (tests that write)."""
    return make_env(tmp_path)


@pytest.fixture(scope="module")
def shared_web(tmp_path_factory) -> WebEnv:
    """One database for a module's read-only tests (and writes refused before any change)."""
    return make_env(tmp_path_factory.mktemp("web"))
