"""The telecom schema (migration 0003) on SQLite and PostgreSQL: nodes, trunks, who carries what."""
from __future__ import annotations

import importlib.util
import os
import uuid
from contextlib import contextmanager
from decimal import Decimal

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from sc_asterisk.db import Database
from sc_asterisk.db.models_telecom import Node, Trunk
from sc_asterisk.paths import MIGRATIONS_DIR

TABLES = {"node", "trunk", "node_trunk"}


@contextmanager
def postgres_database():
    """A throw-away database on the server named by SC_ASTERISK_TEST_PG."""
    url = os.environ.get("SC_ASTERISK_TEST_PG")
    if not url:
        pytest.skip("SC_ASTERISK_TEST_PG is not set")
    base = make_url(url)
    if base.drivername == "postgresql" and importlib.util.find_spec("psycopg") is None:
        # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; the project ships psycopg2.
        base = base.set(drivername="postgresql+psycopg2")
    name = f"sc_telecom_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


def exercise(db: Database) -> None:
    db.upgrade()
    assert TABLES <= set(inspect(db.engine).get_table_names())
    with db.session() as s:
        t = Trunk(name="acme", host="192.0.2.10", username="u", secret_file="/x/trunk-acme",
                  match=["192.0.2.0/24"], rate_per_minute=Decimal("0.01250"))
        s.add(Node(name="paris-1", ami_host="10.0.0.5", ami_secret_file="/x/node-paris-1",
                   agi_host="10.0.0.2", sounds_dir="/s", asterisk_sounds_dir="/a",
                   config_dir="/c", trunks=[t]))
    with db.session() as s:
        node = s.scalar(select(Node))
        [trunk] = node.trunks
        assert trunk.match == ["192.0.2.0/24"] and trunk.rate_per_minute == Decimal("0.0125")
        assert (trunk.port, trunk.transport, trunk.codecs, trunk.qualify_s, trunk.enabled) == \
            (5060, "udp", "alaw,ulaw", 60, True)
        assert (node.ami_port, node.agi_port, node.ami_user) == (5038, 4573, "sc-controller")
        assert node.cel_file is None          # 0009: no CEL log known unless given
        node.cel_file = "/srv/sc/paris-1/log/sc-cel.json"
        s.delete(trunk)
    with db.session() as s:
        assert s.scalar(select(Node)).trunks == []   # the association row went with the trunk
    # Down to just before 0003, and up again.
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003-1")
    assert not TABLES & set(inspect(db.engine).get_table_names())
    db.upgrade()
    assert TABLES <= set(inspect(db.engine).get_table_names())


def test_schema_on_sqlite(tmp_path):
    exercise(Database(f"sqlite:///{tmp_path / 'telecom.db'}"))


@pytest.mark.postgres
def test_schema_on_postgresql():
    with postgres_database() as url:
        db = Database(url)
        try:
            exercise(db)
        finally:
            db.engine.dispose()
