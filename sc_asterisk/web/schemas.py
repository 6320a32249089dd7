"""Pydantic models of every request and response body of ``/api/v1`` (the OpenAPI document is
made from them)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from ..dialer.campaigns import LIMITS

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items`` from ``offset``, ``total`` in all."""

    items: list[T]
    total: int
    limit: int
    offset: int


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class Me(BaseModel):
    username: str
    role: str
    via: str
    permissions: list[str]
    csrf_token: str | None = None


class CampaignSummary(BaseModel):
    name: str
    status: str
    trunk: str
    cps: float
    max_channels: int
    compliance_profile: str
    created_at: datetime


class Segment(BaseModel):
    position: int
    role: str
    audio: str


class CampaignDetail(CampaignSummary):
    caller_id: str | None
    optout_digit: str
    ring_timeout_s: int
    windows: list[str]
    amd_policy: str | None
    segments: list[Segment]


class CampaignIn(BaseModel):
    """A new draft campaign: the options of ``campaign create``, checked by the same service."""

    name: str = Field(max_length=100)
    message: str = Field(description="audio name of the message")
    notice: str = Field(description="audio name of the privacy notice")
    optout_intro: str | None = Field(None, description="audio played first (fr-cnil: required)")
    optout_confirm: str | None = None
    optout_digit: Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"] = "9"
    compliance_profile: str = "fr-cnil"
    trunk: str = "lab"
    caller_id: str | None = None
    max_channels: int = Field(10, ge=LIMITS["max_channels"][0], le=LIMITS["max_channels"][1])
    cps: float = Field(5.0, ge=LIMITS["cps"][0], le=LIMITS["cps"][1],
                       description="calls started per second at most")
    ring_timeout_s: int = Field(30, ge=LIMITS["ring_timeout_s"][0],
                                le=LIMITS["ring_timeout_s"][1])
    windows: list[str] = Field(default_factory=list,
                               description="e.g. 'mon-fri 10:00-13:00,14:00-20:00'")
    retries: list[str] = Field(default_factory=list, description="OUTCOME=MAX:DELAY_S[:BACKOFF]")
    no_retry: bool = False
    amd_policy: str | None = None
    voicemail: str | None = None


class QueueIn(BaseModel):
    """``campaign queue``'s options; with ``dry_run`` nothing is queued, the counts are exact."""

    where: list[str] = Field(default_factory=list, description="KEY=VALUE filters")
    min_age: int = Field(18, description="minimum age when `where` gives none")
    max_address_age: str | None = Field(None, description="e.g. 18m, 365d, 2y, none")
    dry_run: bool = False


class QueueOut(BaseModel):
    name: str
    matched: int
    queued: int
    excluded: dict[str, int]
    address_cutoff: date | None
    dry_run: bool


class StatusChange(BaseModel):
    name: str
    status: str


class LiveStatus(BaseModel):
    """Aggregated figures of a campaign (no per-call row is read for the attempt states)."""

    name: str
    status: str
    total: int = Field(description="attempts queued so far")
    done: int = Field(description="attempts in a final state")
    in_flight: int = Field(description="attempts originating, ringing or answered")
    states: dict[str, int]
    outcomes: dict[str, int]
    answered: int = Field(description="finished calls whose outcome is answered")
    opted_out: int = Field(description="calls in which the callee opted out")
    heard_min: int = Field(description="answered calls that heard at least min_listen_s of the "
                                       "message (the report's heard_min)")
    min_listen_s: int = Field(description="the listen rate's threshold, seconds")
    listen_rate: float | None = Field(description="heard_min / answered, in %, one decimal "
                                                  "(the report's heard_min_rate); None before "
                                                  "any answer")
    calls_per_s: float | None = Field(description="attempts dialed per second over about the "
                                                  "last 10 s; None until two counts exist")
    computed_at: datetime


class UserIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    role: str = Field(max_length=20)


class UserOut(BaseModel):
    username: str
    role: str
    created_at: datetime


class TokenIn(BaseModel):
    name: str = Field(max_length=64, description="what the token is for, e.g. crm")


class TokenOut(BaseModel):
    token_id: str
    username: str
    name: str
    created_at: datetime
    last_used_at: datetime | None


class NewToken(BaseModel):
    token_id: str
    token: str = Field(description="shown this once: only its digest is stored")


class NumberIn(BaseModel):
    """A phone number as typed (``06 12 34 56 78``, ``+33612345678``), in a body: numbers never
    go in URLs, which the access log prints."""

    number: str = Field(min_length=1, max_length=40)
    region: str = Field("FR", pattern="^[A-Z]{2}$",
                        description="country of a number written without +prefix")


class SuppressIn(NumberIn):
    reason: str = Field(min_length=1, max_length=200)


class SuppressionOut(BaseModel):
    suppressed: bool
    reason: str | None = None
    since: datetime | None = None
    source: str | None = None
    already: bool | None = Field(None, description="(add) it was suppressed before")


class ImportJobOut(BaseModel):
    id: str
    file_name: str
    state: Literal["running", "complete", "failed"]
    done: int = Field(description="bytes of the file read")
    total: int
    error: str | None = None
    summary: dict | None = None
    rejects: bool = Field(description="a rejects file is ready at .../rejects.csv")


class TrunkTestIn(BaseModel):
    """``trunk test``'s options; without ``number`` no call is placed."""

    node: str | None = Field(None, description="default: the first enabled node carrying it")
    number: str | None = Field(None, max_length=40)
    prompt: str | None = Field(None, description="an imported audio (default: a 2 s tone)")
    caller_id: str | None = Field(None, max_length=40)
    ring_timeout_s: int = Field(30, ge=5, le=120)
