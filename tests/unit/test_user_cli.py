"""``sc-asterisk user``: accounts and API tokens from the CLI, as the web sees them; argon2id
hashes and token digests only in the database; every change audited."""
from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy import func, select

from sc_asterisk.cli import main
from sc_asterisk.cli.common import cli
from sc_asterisk.config import Settings
from sc_asterisk.db import Database
from sc_asterisk.db.models_privacy import AuditEntry
from sc_asterisk.db.models_web import ApiToken, WebUser
from sc_asterisk.keys import key_init
from sc_asterisk.users import secrets as user_secrets
from sc_asterisk.users.accounts import authenticate

PASSWORD = "correct horse battery staple"


@pytest.fixture
def env(tmp_path: Path):
    previous = user_secrets.set_hasher(PasswordHasher(time_cost=1, memory_cost=64,
                                                       parallelism=1))
    url = f"sqlite:///{tmp_path / 'u.db'}"
    db = Database(url)
    db.upgrade()
    key_init(Settings.load(db_url=url, home=str(tmp_path / "home")), db)
    yield {"db": db, "args": ["--db", url, "--home", str(tmp_path / "home")]}
    user_secrets.set_hasher(previous)


def run(env, *args, input=None):
    return CliRunner().invoke(cli, [*env["args"], *args], input=input, catch_exceptions=False)


def test_add_list_remove_with_argon2id_hashes(env):
    assert run(env, "user", "add", "alice", "--role", "operator", "--password-file", "-",
               input=PASSWORD + "\n").output == "user alice added (operator)\n"
    assert run(env, "user", "list").output.startswith("alice\toperator\t")
    with env["db"].session() as s:
        stored = s.scalar(select(WebUser.password_hash))
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
        assert authenticate(s, "alice", PASSWORD).role == "operator"
        assert authenticate(s, "alice", PASSWORD + "x") is None
    assert run(env, "user", "remove", "alice", "--yes").output == "user alice removed\n"
    with env["db"].session() as s:
        assert s.scalar(select(func.count()).select_from(WebUser)) == 0
        actions = list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions[-2:] == ["user-add", "user-remove"]


def test_bad_input_is_one_line_and_adds_nobody(env, capsys):
    for args, line in (
            (["user", "add", "bob", "--role", "admin", "--password-file", "-"],
             "Error: password shorter than 12 characters (choose a longer one (a passphrase "
             "of four words will do))"),
            (["user", "add", "Bob Smith", "--role", "admin", "--password-file", "-"],
             "Error: bad user name 'Bob Smith' (use lower-case letters, digits, '.', '_', '@' "
             "or '-' (max 60))")):
        import io
        import sys
        stdin, sys.stdin = sys.stdin, io.StringIO("short\n" if "bob" in args else PASSWORD)
        try:
            with pytest.raises(SystemExit) as exit_:
                main([*env["args"], *args])
        finally:
            sys.stdin = stdin
        assert exit_.value.code == 2
        assert capsys.readouterr().err.strip() == line
    with env["db"].session() as s:
        assert s.scalar(select(func.count()).select_from(WebUser)) == 0
    result = CliRunner().invoke(cli, [*env["args"], "user", "add", "bob", "--role", "boss"])
    assert result.exit_code == 2 and "'boss' is not one of" in result.output


def test_a_token_is_shown_once_stored_as_a_digest_and_revocable(env):
    run(env, "user", "add", "crm", "--role", "operator", "--password-file", "-",
        input=PASSWORD + "\n")
    result = CliRunner().invoke(cli, [*env["args"], "user", "token", "create", "crm",
                                      "--name", "crm"])
    token = result.stdout.strip()
    assert token.startswith("sct_") and "not shown again" in result.stderr
    token_id, secret = token.split("_")[1], token.split("_", 2)[2]
    listing = run(env, "user", "token", "list").output
    assert listing.startswith(f"{token_id}\tcrm\tcrm\tnever used") and secret not in listing
    with env["db"].session() as s:
        row = s.scalar(select(ApiToken))
        assert row.token_id == token_id and secret not in row.digest

    from fastapi.testclient import TestClient

    from sc_asterisk.web.app import create_app
    client = TestClient(create_app(env["db"], "k" * 64), base_url="https://testserver")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).json()["username"] == "crm"
    assert run(env, "user", "token", "revoke", token_id).output == f"token {token_id} revoked\n"
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    with env["db"].session() as s:
        actions = list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions[-2:] == ["token-create", "token-revoke"]


def test_removing_a_user_removes_their_tokens(env):
    run(env, "user", "add", "crm", "--role", "operator", "--password-file", "-",
        input=PASSWORD + "\n")
    run(env, "user", "token", "create", "crm", "--name", "crm")
    run(env, "user", "remove", "crm", "--yes")
    with env["db"].session() as s:
        assert s.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_the_demos_one_time_admin_can_log_in_with_the_password_shown(env):
    from sc_asterisk.users.accounts import one_time_admin
    with env["db"].session() as s:
        password = one_time_admin(s)
    with env["db"].session() as s:
        other = one_time_admin(s, "admin2")
        assert authenticate(s, "admin", password).role == "admin"
        assert password != other and len(password) >= 20
