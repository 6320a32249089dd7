"""Data-subject rights: export everything held about a number, and erase it.

Erasure deletes the contact and its provenance, gives its call attempts a random token instead
of their number (``erased:…``, one per erasure: call statistics survive without the person, and
nothing links the token back to the number, not even with the key), leaves an erasure
tombstone keyed by a slow hash in the suppression store (a later import of the number is
rejected, the dialer never calls it), and writes an audit entry that names the token. Earlier
audit entries about the person (keyed by the HMAC pseudonym) are rekeyed to the token too: no
row keeps HMAC(key, number).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ..db import CallAttempt, Contact
from ..dialer.states import AttemptState, transition
from ..db.models_privacy import AuditEntry, ContactSource, ImportBatch
from .audit import os_user, record_audit
from .numbers import to_e164
from .suppression import ERASED, SuppressionStore
from .tombstones import erased_token



@dataclass(frozen=True)
class ErasureReport:
    """What ``erase_subject`` did; safe to print (no personal data). ``pseudonym`` is the
    erasure token that now stands for the person in call attempts and the audit log."""

    pseudonym: str
    contact_deleted: bool
    provenance_deleted: int
    attempts_pseudonymised: int
    attempts_cancelled: int


def describe_contact(session: Session, key: str | bytes, number: str,
                     region: str = "FR") -> dict:
    """The contact held for *number* (or None), its provenance and its suppression status.

    Example: ``describe_contact(s, key, "06 12 34 56 78")["suppression"]``
    """
    store, e164, contact = _lookup(session, key, number, region)
    return _held(session, store, e164, contact)


def export_subject(session: Session, key: str | bytes, number: str, region: str = "FR",
                   actor: str | None = None) -> dict:
    """Everything held about *number* as JSON-ready data; the request is audited.

    Example: ``json.dumps(export_subject(s, key, "06 12 34 56 78"))``
    """
    store, e164, contact = _lookup(session, key, number, region)
    held = _held(session, store, e164, contact)
    record_audit(session, "subject-export", held["subject"],
                 {"contact_found": contact is not None}, actor)
    return {"exported_at": datetime.now(timezone.utc).isoformat(), **held,
            "call_attempts": [_attempt(a) for a in _attempts(session, e164, contact)]}


def erase_subject(session: Session, key: str | bytes, number: str, region: str = "FR",
                  actor: str | None = None) -> ErasureReport:
    """Erase *number*'s personal data (see the module docstring), in the caller's transaction.

    Example: ``erase_subject(s, key, "+33612345678").attempts_pseudonymised``
    """
    store, e164, contact = _lookup(session, key, number, region)
    pseudonym = erased_token()
    actor = actor or os_user()
    attempts = _attempts(session, e164, contact, store.pseudonym(e164))
    cancelled = 0
    for attempt in attempts:
        attempt.number, attempt.contact_id = pseudonym, None
        # Not dialled yet: never to be dialled, ended the way a cancelled campaign ends them.
        if transition(session, attempt.id, AttemptState.CANCELLED):
            cancelled += 1
        attempt.updated_at = datetime.now(timezone.utc)
    provenance = 0
    if contact is not None:
        sources = session.scalars(select(ContactSource)
                                  .where(ContactSource.contact_id == contact.id)).all()
        for src in sources:
            session.delete(src)
        provenance = len(sources)
        session.flush()
        session.delete(contact)
    store.tombstone(e164, f"erase:{actor}")
    session.execute(update(AuditEntry).where(AuditEntry.subject == store.pseudonym(e164))
                    .values(subject=pseudonym))
    report = ErasureReport(pseudonym, contact is not None, provenance, len(attempts), cancelled)
    record_audit(session, "erase", pseudonym, {
        "contact_deleted": report.contact_deleted,
        "provenance_deleted": provenance,
        "attempts_pseudonymised": len(attempts),
        "attempts_cancelled": cancelled,
    }, actor)
    session.flush()
    return report


def _lookup(session: Session, key: str | bytes, number: str,
            region: str) -> tuple[SuppressionStore, str, Contact | None]:
    e164 = to_e164(number, region)
    contact = session.scalars(select(Contact).where(Contact.e164 == e164)).first()
    return SuppressionStore(session, key), e164, contact


def _held(session: Session, store: SuppressionStore, e164: str, contact: Contact | None) -> dict:
    entry = store.entry(e164)
    erased = entry is not None and entry.reason == ERASED
    return {
        # an erased person is named by their tombstone's hash: an audit entry about them must
        # not bring HMAC(key, number) back
        "subject": entry.number_hash if erased else store.pseudonym(e164),
        "contact": _contact(contact) if contact else None,
        "provenance": _provenance(session, contact) if contact else [],
        "suppression": ({"reason": entry.reason, "source": entry.source,
                         "since": _iso(entry.created_at)} if entry else None),
    }


def _attempts(session: Session, e164: str, contact: Contact | None,
              pseudonym: str | None = None) -> list[CallAttempt]:
    # (erased before tokens: attempts that hold the HMAC pseudonym are the person's too)
    match = CallAttempt.number.in_([e164, pseudonym] if pseudonym else [e164])
    if contact is not None:
        match = or_(match, CallAttempt.contact_id == contact.id)
    return list(session.scalars(select(CallAttempt).where(match)
                                .order_by(CallAttempt.created_at, CallAttempt.id)))


def _contact(c: Contact) -> dict:
    return {
        "e164": c.e164, "number_type": c.number_type, "time_zone": c.time_zone,
        "first_name": c.first_name, "last_name": c.last_name, "postcode": c.postcode,
        "commune": c.commune, "address_asserted_at": _iso(c.address_asserted_at),
        "birth_date": _iso(c.birth_date), "list_name": c.list_name,
        "source": c.source, "legal_basis": c.legal_basis, "consent_at": _iso(c.consent_at),
        "consent_slot": c.consent_slot, "attributes": c.attributes or {},
        "created_at": _iso(c.created_at), "updated_at": _iso(c.updated_at),
    }


def _provenance(session: Session, contact: Contact) -> list[dict]:
    rows = session.execute(select(ContactSource, ImportBatch)
                           .join(ImportBatch, ImportBatch.id == ContactSource.batch_id)
                           .where(ContactSource.contact_id == contact.id)
                           .order_by(ImportBatch.id))
    return [{
        "import_batch": batch.id, "file_name": batch.file_name, "list_name": batch.list_name,
        "source": batch.source, "imported_at": _iso(batch.started_at),
        "imported_by": batch.imported_by, "lines": [src.first_line, src.last_line],
        "legal_basis": src.legal_basis, "consent_at": _iso(src.consent_at),
        "consent_slot": src.consent_slot,
    } for src, batch in rows]


def _attempt(a: CallAttempt) -> dict:
    record = a.record
    return {
        "id": a.id, "campaign": a.campaign.name if a.campaign else None, "number": a.number,
        "attempt_no": a.attempt_no, "state": a.state, "node": a.node, "trunk": a.trunk,
        "created_at": _iso(a.created_at), "updated_at": _iso(a.updated_at),
        "call_record": None if record is None else {
            "direction": record.direction, "outcome": record.outcome,
            "originate_ms": record.originate_ms, "answer_ms": record.answer_ms,
            "end_ms": record.end_ms, "hangup_cause": record.hangup_cause,
            "hangup_cause_txt": record.hangup_cause_txt, "hung_up_by": record.hung_up_by,
            "segments": [{
                "position": seg.position, "role": seg.role, "length_ms": seg.length_ms,
                "listened_ms": seg.listened_ms, "heard_full": seg.heard_full,
                "stop_reason": seg.stop_reason,
            } for seg in record.segments],
        },
    }


def _iso(value) -> str | None:
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)  # SQLite hands back UTC without its zone
    return value.isoformat() if value is not None else None
