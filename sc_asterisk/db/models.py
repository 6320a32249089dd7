"""SQLAlchemy 2.x typed models: the one schema every room writes through.

Times that matter for measurement are integer milliseconds since the Unix epoch (UTC), so the
analyst's arithmetic is exact and database-independent.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

from sqlalchemy import (JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer,
                        LargeBinary, String, Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


class AudioAsset(Base):
    """A prompt converted to mono 16-bit 8 kHz WAV; the bytes live in the database so every
    controller and node can publish the same file."""

    __tablename__ = "audio_asset"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    duration_ms: Mapped[int] = mapped_column(Integer)
    sample_rate: Mapped[int] = mapped_column(Integer, default=8000)
    source_filename: Mapped[str] = mapped_column(String(255))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Campaign(Base):
    __tablename__ = "campaign"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    trunk: Mapped[str] = mapped_column(String(64), default="lab")
    caller_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    optout_digit: Mapped[str] = mapped_column(String(1), default="9")
    max_channels: Mapped[int] = mapped_column(Integer, default=10)
    cps: Mapped[float] = mapped_column(default=5.0)
    ring_timeout_s: Mapped[int] = mapped_column(Integer, default=30)
    compliance_profile: Mapped[str] = mapped_column(String(20), default="fr-cnil")
    # Calling windows ("mon-fri 10:00-13:00,14:00-20:00", one per line); empty = the default.
    windows: Mapped[str | None] = mapped_column(Text, nullable=True)
    retry_policy: Mapped[str | None] = mapped_column(Text, nullable=True)   # RetryPolicy JSON
    amd_policy: Mapped[str | None] = mapped_column(String(80), nullable=True)  # None = no AMD
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    segments: Mapped[list["CampaignSegment"]] = relationship(
        order_by="CampaignSegment.position", cascade="all, delete-orphan")


class CampaignSegment(Base):
    """One audio segment of a campaign's script, in play order (intro / message / notice)."""

    __tablename__ = "campaign_segment"
    __table_args__ = (UniqueConstraint("campaign_id", "position"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))
    asset_id: Mapped[int] = mapped_column(ForeignKey("audio_asset.id"))
    asset: Mapped[AudioAsset] = relationship()


class Contact(Base):
    """A person and one number (E.164). Provenance and consent travel with the contact."""

    __tablename__ = "contact"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    e164: Mapped[str] = mapped_column(String(20), unique=True)
    number_type: Mapped[str | None] = mapped_column(String(20), nullable=True)
    time_zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    first_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    last_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    postcode: Mapped[str | None] = mapped_column(String(10), nullable=True, index=True)
    commune: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # Casefolded, accent-free commune: portable SQL cannot compare "Évry" and "EVRY".
    commune_key: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    list_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    source: Mapped[str | None] = mapped_column(Text, nullable=True)
    legal_basis: Mapped[str | None] = mapped_column(String(40), nullable=True)
    consent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    consent_slot: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # When the address (postcode, commune) was last confirmed: an address column of the import,
    # else the consent date, else the import's --address-date; None: unknown. Geographic
    # targeting leaves out addresses older than its freshness limit.
    address_asserted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                                 nullable=True)
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)
    # The import batch that last wrote the attributes: an older file re-imported later must not
    # overwrite newer data.
    import_batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CallAttempt(Base):
    """One dial of one contact. Its id is the Asterisk ChannelId (and so the channel's Uniqueid)."""

    __tablename__ = "call_attempt"
    # The claim's ORDER BY in full: ten index entries per claim, not a sort of the queue.
    __table_args__ = (Index("ix_call_attempt_due", "campaign_id", "state", "not_before_ms",
                            "created_at", "id"),
                      Index("ix_call_attempt_number", "number"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"),
                                                   nullable=True, index=True)
    number: Mapped[str] = mapped_column(String(64))
    attempt_no: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    not_before_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    controller: Mapped[str | None] = mapped_column(String(64), nullable=True)
    node: Mapped[str | None] = mapped_column(String(64), nullable=True)
    trunk: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # When Asterisk confirmed the channel of an ``unknown`` attempt gone (its Hangup, or its
    # absence from a CoreShowChannels): until then it may still ring and holds its slot.
    channel_gone_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    campaign: Mapped[Campaign] = relationship()
    contact: Mapped[Contact | None] = relationship()
    record: Mapped["CallRecord | None"] = relationship(back_populates="attempt", uselist=False)


class PaceBucket(Base):
    """Token-bucket state of one pacing scope ("campaign:7", "trunk:ovh"), shared by every
    controller through the database so that several controllers pace together. A claim also
    locks the rows of its trunk and nodes ("node:n1") before counting their channel caps: rows
    of scopes without a rate are only these locks."""

    __tablename__ = "pace_bucket"
    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    tokens: Mapped[float] = mapped_column(default=1.0)
    stamp: Mapped[float] = mapped_column(default=0.0)


class ControllerLease(Base):
    """A running controller and its heartbeat: in-flight attempts of a controller whose
    heartbeat stopped are reconciled by the next one."""

    __tablename__ = "controller_lease"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_ms: Mapped[int] = mapped_column(BigInteger)
    heartbeat_ms: Mapped[int] = mapped_column(BigInteger)


class CallRecord(Base):
    """What happened on one attempt. Millisecond epoch timestamps; listen time is per segment."""

    __tablename__ = "call_record"
    attempt_id: Mapped[str] = mapped_column(ForeignKey("call_attempt.id"), primary_key=True)
    direction: Mapped[str] = mapped_column(String(10), default="outbound")
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    originate_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    answer_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    end_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    hangup_cause: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hangup_cause_txt: Mapped[str | None] = mapped_column(String(80), nullable=True)
    hung_up_by: Mapped[str | None] = mapped_column(String(10), nullable=True)
    caller_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    amd_result: Mapped[str | None] = mapped_column(String(10), nullable=True)
    amd_cause: Mapped[str | None] = mapped_column(String(60), nullable=True)
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    # How the listened ms were obtained: "measured" (the call flow's STREAM FILE endpos) or
    # "reconstructed" (from Asterisk's CEL after the controller was lost); None: none heard.
    precision: Mapped[str | None] = mapped_column(String(14), nullable=True)
    attempt: Mapped[CallAttempt] = relationship(back_populates="record")
    segments: Mapped[list["SegmentListen"]] = relationship(
        order_by="SegmentListen.position", cascade="all, delete-orphan")


class SegmentListen(Base):
    """How long the callee listened to one segment, from STREAM FILE's endpos."""

    __tablename__ = "segment_listen"
    __table_args__ = (UniqueConstraint("attempt_id", "position"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt_id: Mapped[str] = mapped_column(ForeignKey("call_record.attempt_id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))
    length_ms: Mapped[int] = mapped_column(Integer)
    listened_ms: Mapped[int] = mapped_column(Integer)
    heard_full: Mapped[bool] = mapped_column(Boolean)
    stop_reason: Mapped[str] = mapped_column(String(20))
