"""Telecom models: the Asterisk servers (nodes) and the carrier trunks they carry.

No secret is stored in the database: a node's AMI secret and a trunk's SIP secret live in 0600
files (``*_secret_file``) that only the controller's user can read.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (JSON, Boolean, Column, DateTime, Float, ForeignKey, Integer, Numeric,
                        String, Table)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .models import Base, utcnow

node_trunk = Table(
    "node_trunk", Base.metadata,
    Column("node_id", ForeignKey("node.id", ondelete="CASCADE"), primary_key=True),
    Column("trunk_id", ForeignKey("trunk.id", ondelete="CASCADE"), primary_key=True),
)


class Node(Base):
    """One Asterisk server the controller drives over AMI and serves over FastAGI."""

    __tablename__ = "node"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    ami_host: Mapped[str] = mapped_column(String(255))
    ami_port: Mapped[int] = mapped_column(Integer, default=5038)
    ami_user: Mapped[str] = mapped_column(String(64), default="sc-controller")
    ami_secret_file: Mapped[str] = mapped_column(String(1024))
    max_channels: Mapped[int] = mapped_column(Integer, default=30)
    # The controller's FastAGI address as Asterisk reaches it (not where the controller binds).
    agi_host: Mapped[str] = mapped_column(String(255))
    agi_port: Mapped[int] = mapped_column(Integer, default=4573)
    sounds_dir: Mapped[str] = mapped_column(String(1024))            # as the controller sees it
    asterisk_sounds_dir: Mapped[str] = mapped_column(String(1024))   # the same, as Asterisk sees it
    config_dir: Mapped[str] = mapped_column(String(1024))  # where rendered include files go
    # The node's CEL log as the controller reads it (None: not readable from the controller).
    cel_file: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    # Behind NAT: the address carriers reach the node at, and the networks reached directly.
    public_address: Mapped[str | None] = mapped_column(String(255), nullable=True)
    local_nets: Mapped[list | None] = mapped_column(JSON, nullable=True)
    # The TLS transport's certificate and key, as Asterisk reads them (a TLS trunk needs them).
    tls_cert_file: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    tls_key_file: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    # The CAs a carrier's certificate must chain to (None: carriers are not verified).
    tls_ca_file: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    trunks: Mapped[list["Trunk"]] = relationship(secondary=node_trunk, back_populates="nodes",
                                                 order_by="Trunk.name")


class Trunk(Base):
    """A carrier SIP trunk. Limits (channels, cps) and the dial prefix are the dialer's business;
    rate and billing increment let reports price calls."""

    __tablename__ = "trunk"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=5060)
    transport: Mapped[str] = mapped_column(String(3), default="udp")
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    secret_file: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    register: Mapped[bool] = mapped_column(Boolean, default=False)
    match: Mapped[list] = mapped_column(JSON, default=list)   # CIDRs inbound calls come from
    codecs: Mapped[str] = mapped_column(String(100), default="alaw,ulaw")
    max_channels: Mapped[int] = mapped_column(Integer, default=30)
    cps: Mapped[float] = mapped_column(Float, default=5.0)
    # Seconds between OPTIONS pings (0: never; a peer that does not answer OPTIONS needs it).
    qualify_s: Mapped[int] = mapped_column(Integer, default=60)
    caller_id_policy: Mapped[str] = mapped_column(String(10), default="from")
    dial_prefix: Mapped[str] = mapped_column(String(16), default="")
    rate_per_minute: Mapped[Decimal | None] = mapped_column(Numeric(10, 5), nullable=True)
    billing_increment_s: Mapped[int] = mapped_column(Integer, default=1)
    # SRTP with SDES keys (media_encryption = sdes): only over TLS, which carries the keys.
    srtp: Mapped[bool] = mapped_column(Boolean, default=False)
    # The numbers the carrier delivers on this trunk (E.164): the callback lines it answers.
    dids: Mapped[list | None] = mapped_column(JSON, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    nodes: Mapped[list[Node]] = relationship(secondary=node_trunk, back_populates="trunks",
                                             order_by="Node.name")

