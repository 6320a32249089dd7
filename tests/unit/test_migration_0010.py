"""Migration 0010 (NAT, TLS, SRTP, callback numbers) goes down and up on SQLite and PostgreSQL,
keeping the nodes and trunks already there."""
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from sc_asterisk.db import Database
from sc_asterisk.paths import MIGRATIONS_DIR

NODE_COLUMNS = {"public_address", "local_nets", "tls_cert_file", "tls_key_file", "tls_ca_file"}
TRUNK_COLUMNS = {"srtp", "dids"}


def columns(db, table):
    return {c["name"] for c in inspect(db.engine).get_columns(table)}


def down_and_up(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO trunk (name, host, port, transport, register, match, "
                          "codecs, max_channels, cps, qualify_s, caller_id_policy, dial_prefix, "
                          "billing_increment_s, enabled, created_at) VALUES ('acme', '192.0.2.1', 5060, "
                          "'udp', false, '[]', 'alaw', 30, 5, 60, 'from', '', 1, true, CURRENT_TIMESTAMP)"))
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0009_node_cel")
    assert not NODE_COLUMNS & columns(db, "node") and not TRUNK_COLUMNS & columns(db, "trunk")
    db.upgrade()
    assert NODE_COLUMNS <= columns(db, "node") and TRUNK_COLUMNS <= columns(db, "trunk")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT name, srtp FROM trunk")).all() == [("acme", False)]


def test_migration_0010_goes_down_and_up_on_sqlite(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade()
    down_and_up(db)


@pytest.mark.postgres
def test_migration_0010_goes_down_and_up_on_postgresql():
    from test_node_models import postgres_database
    with postgres_database() as url:
        db = Database(url)
        try:
            db.upgrade()
            down_and_up(db)
        finally:
            db.engine.dispose()
