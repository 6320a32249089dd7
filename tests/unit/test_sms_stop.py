"""Inbound STOP: recognised as the French convention is written, and stored through the
suppression store, audited, before any acknowledgement."""
import pytest
from sqlalchemy import select

from sc_asterisk.contacts.suppression import SuppressionStore
from sc_asterisk.db import Database
from sc_asterisk.db.models_privacy import AuditEntry, SuppressionEntry
from sc_asterisk.sms.optout import (ALREADY, NO_NUMBER, NOT_STOP, SUPPRESSED, Inbound,
                                    handle_inbound, sender_e164)
from sc_asterisk.sms.stop import is_stop

KEY = "test-installation-key"


@pytest.mark.parametrize("text", ["STOP", "stop", "Stop", " Stop ! ", "STOP SMS", "stop sms",
                                  "Stop-SMS", "STOPSMS", "stop.", "STÖP", "Stôp", "ＳＴＯＰ",
                                  "🛑 STOP", "\nSTOP\n", "«STOP»", "Stop merci", "STOP au 36180"])
def test_stop_is_recognised(text):
    assert is_stop(text)


@pytest.mark.parametrize("text", ["", None, "   ", "Stopper", "non stop", "S T O P", "ARRÊT",
                                  "Oui", "Je ne veux pas que ça s'arrête", "top", "STO P"])
def test_other_texts_are_not_stop(text):
    assert not is_stop(text)


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'stop.db'}")
    database.upgrade()
    return database


def test_a_stop_is_stored_and_audited_before_the_acknowledgement_leaves(db, tmp_path):
    seen = []

    def acknowledge(e164, text):
        # another connection sees the suppression: it was committed before the reply
        with db.session() as s:
            seen.append((SuppressionStore(s, KEY).is_suppressed(e164), text))

    message = Inbound("33612345678", " Stop ! ", "smpp:acme", international=True)
    assert handle_inbound(db, KEY, message, acknowledge, "Vous ne recevrez plus de SMS.",
                          campaign="municipales") == SUPPRESSED
    assert seen == [("opt-out", "Vous ne recevrez plus de SMS.")]
    with db.session() as s:
        [entry] = s.scalars(select(SuppressionEntry))
        assert (entry.reason, entry.source) == ("opt-out", "sms-stop:smpp:acme:municipales")
        [audit] = s.scalars(select(AuditEntry))
        assert audit.action == "sms-opt-out"
        assert audit.subject == SuppressionStore(s, KEY).pseudonym("+33612345678")
        assert audit.details == {"transport": "smpp:acme", "campaign": "municipales"}
    assert b"612345678" not in (tmp_path / "stop.db").read_bytes()


def test_a_second_stop_is_not_acknowledged_again(db):
    sent = []
    first = Inbound("06 12 34 56 78", "STOP", "sip:acme")
    assert handle_inbound(db, KEY, first, lambda *a: sent.append(a), "OK") == SUPPRESSED
    assert handle_inbound(db, KEY, first, lambda *a: sent.append(a), "OK") == ALREADY
    assert sent == [("+33612345678", "OK")]
    with db.session() as s:
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.id > 1)) is None


def test_no_acknowledgement_when_the_suppression_is_not_committed(db, monkeypatch):
    import sc_asterisk.sms.optout as optout

    def broken(*args, **kwargs):
        raise RuntimeError("database gone")
    monkeypatch.setattr(optout, "suppress_sender", broken)
    sent = []
    with pytest.raises(RuntimeError):
        handle_inbound(db, KEY, Inbound("0612345678", "STOP", "sip:acme"),
                       lambda *a: sent.append(a), "OK")
    assert sent == []


def test_not_a_stop_or_no_number_changes_nothing(db):
    assert handle_inbound(db, KEY, Inbound("0612345678", "Merci", "sip:acme")) == NOT_STOP
    assert handle_inbound(db, KEY, Inbound("MAIRIE", "STOP", "sip:acme")) == NO_NUMBER
    with db.session() as s:
        assert s.scalars(select(SuppressionEntry)).all() == []


def test_the_sender_is_read_as_the_transport_gives_it():
    assert sender_e164(Inbound("+33612345678", "", "sip:x")) == "+33612345678"
    assert sender_e164(Inbound("0612345678", "", "sip:x")) == "+33612345678"
    assert sender_e164(Inbound("33612345678", "", "smpp:x", international=True)) == "+33612345678"
    assert sender_e164(Inbound("MAIRIE", "", "smpp:x")) is None
