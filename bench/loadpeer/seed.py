"""The rehearsal's database: a scratch PostgreSQL database (or a SQLite file), the installation
key, prompts, the load peers as nodes, the campaign, and contacts and attempts written in bulk
(COPY on PostgreSQL, never through the importer).

Numbers are fictitious: +33 1 99 xx xx xx (ARCEP's fiction block) for the first million, then
the same block with two digits too many (no valid number anywhere).
"""
from __future__ import annotations

import math
import os
import time
import uuid
import wave
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from sc_asterisk.audio import import_audio
from sc_asterisk.config import Settings
from sc_asterisk.db import Database
from sc_asterisk.dialer.campaigns import create_campaign
from sc_asterisk.dialer.retries import NO_RETRY
from sc_asterisk.keys import key_init
from sc_asterisk.telecom.nodes import NodeSpec, add_node

CAMPAIGN = "rehearsal"


def number(i: int) -> str:
    """The *i*-th fictitious number. Example: ``number(7) == "+33199000007"``"""
    return f"+33199{i:06d}" if i < 1_000_000 else f"+33199{i:08d}"

class Scratch:
    """A scratch PostgreSQL database made from a DSN (dropped at the end), or a SQLite URL."""

    def __init__(self, dsn: str, keep: bool):
        self.admin = None
        self.keep = keep
        if dsn.startswith("sqlite"):
            self.url, self.name = dsn, None
            return
        from sqlalchemy import create_engine
        base = make_url(dsn)
        self.name = f"sc_rehearsal_{os.getpid()}"
        self.admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{self.name}"'))
            c.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = base.set(database=self.name).render_as_string(hide_password=False)

    def driver_url(self, application_name: str) -> str:
        """The URL with an application name (PostgreSQL), to tell our connections apart."""
        if not self.postgres:
            return self.url
        return make_url(self.url).update_query_dict(
            {"application_name": application_name}).render_as_string(hide_password=False)

    @property
    def postgres(self) -> bool:
        return self.name is not None

    def drop(self) -> None:
        if self.admin is None or self.keep:
            return
        with self.admin.connect() as c:
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": self.name})
            c.execute(text(f'DROP DATABASE IF EXISTS "{self.name}"'))
        self.admin.dispose()


def tone_wav(path: Path, seconds: float) -> Path:
    """A 440 Hz tone of *seconds* at 8 kHz (the importer refuses silence)."""
    period = [int(3000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(8000)]
    one_s = b"".join(v.to_bytes(2, "little", signed=True) for v in period)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(one_s * int(seconds) + one_s[:2 * int((seconds % 1) * 8000)])
    return path


def setup(db: Database, home: Path, work: Path, args, ami_secret: str) -> None:
    settings = Settings(home=home, db_url=db.url)
    key_init(settings, db)
    sounds = work / "sounds"
    sounds.mkdir(exist_ok=True)
    with db.session() as s:
        import_audio(s, tone_wav(work / "message.wav", args.message_s), "rh-message")
        import_audio(s, tone_wav(work / "notice.wav", args.notice_s), "rh-notice")
        for i in range(args.nodes):
            add_node(s, settings.secrets_dir, NodeSpec(
                f"peer-{i + 1}", ami_host="127.0.0.1", ami_port=args.ami_port + i,
                agi_host="127.0.0.1", agi_port=args.agi_port, sounds_dir=str(sounds),
                asterisk_sounds_dir=str(sounds), config_dir=str(work / "conf"),
                ami_secret=ami_secret, max_channels=args.max_channels))
        create_campaign(s, CAMPAIGN, message="rh-message", notice="rh-notice",
                        compliance_profile="basic", windows="always", retry_policy=NO_RETRY,
                        cps=args.cps, max_channels=args.max_channels, ring_timeout_s=30)


def add_contacts(db: Database, postgres: bool, start: int, stop: int, chunk: int = 200_000
                 ) -> float:
    """Contacts *start*..*stop*-1 (COPY on PostgreSQL); returns seconds taken."""
    began = time.monotonic()
    now = datetime.now(timezone.utc).isoformat()
    for lo in range(start, stop, chunk):
        hi = min(stop, lo + chunk)
        if postgres:
            raw = db.engine.raw_connection()
            try:
                with raw.cursor() as cur:
                    with cur.copy("COPY contact (id, e164, time_zone, list_name, attributes, "
                                  "created_at, updated_at) FROM STDIN") as copy:
                        for i in range(lo, hi):
                            copy.write_row((i + 1, number(i), "Europe/Paris", "rehearsal", "{}",
                                            now, now))
                raw.commit()
            finally:
                raw.close()
        else:
            with db.session() as s:
                s.execute(text("INSERT INTO contact (id, e164, time_zone, list_name, attributes, "
                               "created_at, updated_at) VALUES (:id, :e, 'Europe/Paris', "
                               "'rehearsal', '{}', :t, :t)"),
                          [{"id": i + 1, "e": number(i), "t": now} for i in range(lo, hi)])
    if postgres:
        with db.session() as s:
            s.execute(text("SELECT setval(pg_get_serial_sequence('contact', 'id'), "
                           "(SELECT max(id) FROM contact))"))
    return time.monotonic() - began


def queue_attempts(db: Database, postgres: bool, campaign_id: int, start: int, stop: int,
                   chunk: int = 200_000) -> float:
    """Queue one attempt for contacts *start*..*stop*-1 (COPY on PostgreSQL)."""
    began = time.monotonic()
    now = datetime.now(timezone.utc).isoformat()
    for lo in range(start, stop, chunk):
        hi = min(stop, lo + chunk)
        rows = [(str(uuid.uuid4()), campaign_id, i + 1, number(i), 1, "queued", 0, "lab", now,
                 now) for i in range(lo, hi)]
        if postgres:
            raw = db.engine.raw_connection()
            try:
                with raw.cursor() as cur:
                    with cur.copy("COPY call_attempt (id, campaign_id, contact_id, number, "
                                  "attempt_no, state, not_before_ms, trunk, created_at, "
                                  "updated_at) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                raw.commit()
            finally:
                raw.close()
        else:
            with db.session() as s:
                s.execute(text("INSERT INTO call_attempt (id, campaign_id, contact_id, number, "
                               "attempt_no, state, not_before_ms, trunk, created_at, updated_at) "
                               "VALUES (:a, :c, :k, :n, :no, :st, :nb, :t, :ca, :ua)"),
                          [dict(zip(("a", "c", "k", "n", "no", "st", "nb", "t", "ca", "ua"), r))
                           for r in rows])
    if postgres:
        with db.session() as s:
            s.execute(text("ANALYZE call_attempt"))
            s.execute(text("ANALYZE contact"))
    return time.monotonic() - began


