"""SMS templates: fields checked at creation, rendering per contact, the fr-cnil opt-out
mention, the cost over an audience."""
from decimal import Decimal

import pytest
from sqlalchemy import select

from sc_asterisk.db import Database
from sc_asterisk.db.models import Contact
from sc_asterisk.errors import ConfigError
from sc_asterisk.sms.cost import estimate, parse_price
from sc_asterisk.sms.template import SmsTemplate, TemplateError, available_fields

FIELDS = ["first_name", "last_name", "commune", "postcode", "Civilité"]
STOP = " STOP au 36180"


def test_fields_render_per_contact_with_defaults_and_literal_braces():
    t = SmsTemplate.parse("Bonjour {Civilité|} {first_name|Madame, Monsieur} de {commune}, "
                          "{{vote}}." + STOP, FIELDS, "fr-cnil")
    assert t.fields == ("Civilité", "first_name", "commune")
    assert t.render({"Civilité": "Mme", "first_name": "Zoé", "commune": "Évry"}) == \
        "Bonjour Mme Zoé de Évry, {vote}. STOP au 36180"
    # missing values: the default, or nothing and no doubled space
    assert t.render({"commune": "Évry"}) == "Bonjour Madame, Monsieur de Évry, {vote}. STOP au 36180"


def test_an_unknown_field_is_refused_naming_the_fields_that_exist():
    with pytest.raises(TemplateError) as err:
        SmsTemplate.parse("Bonjour {prenom} {first_name}" + STOP, FIELDS, "fr-cnil")
    line = err.value.one_line()
    assert line == ("unknown field(s) {prenom} (fields are: first_name, last_name, commune, "
                    "postcode, Civilité)")


@pytest.mark.parametrize("text", ["Bonjour {first_name", "Bonjour first_name}", "Bonjour {}"])
def test_broken_braces_are_refused(text):
    with pytest.raises(TemplateError):
        SmsTemplate.parse(text + STOP, FIELDS, "fr-cnil")


@pytest.mark.parametrize("mention", ["STOP au 36180", "Stop SMS", "stop au 36 180",
                                     "Pour ne plus recevoir: STOP SMS."])
def test_fr_cnil_accepts_an_opt_out_mention(mention):
    SmsTemplate.parse("Réunion publique jeudi. " + mention, FIELDS, "fr-cnil")


@pytest.mark.parametrize("text", ["Réunion publique jeudi.", "Réunion STOPPEZ tout",
                                  "Ne stop pas", "Réunion {first_name}"])
def test_fr_cnil_refuses_a_text_without_one(text):
    with pytest.raises(TemplateError, match="must say how to object"):
        SmsTemplate.parse(text, FIELDS, "fr-cnil")
    SmsTemplate.parse(text, FIELDS, "basic")      # no such rule outside fr-cnil


def test_a_field_cannot_carry_the_mention():
    with pytest.raises(TemplateError, match="must say how to object"):
        SmsTemplate.parse("Bonjour {first_name} STOP {commune}", FIELDS, "fr-cnil")


def test_an_unknown_profile_is_refused():
    with pytest.raises(ConfigError, match="unknown compliance profile"):
        SmsTemplate.parse("Bonjour" + STOP, FIELDS, "us-tcpa")


@pytest.fixture
def contacts(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'sms.db'}")
    db.upgrade()
    with db.session() as s:
        s.add_all([Contact(e164="+33612345601", first_name="Zoé", commune="Évry",
                           attributes={"Civilité": "Mme"}),
                   Contact(e164="+33612345602", first_name="Anaïs", attributes={"Club": "ASE"}),
                   Contact(e164="+33612345603", first_name=None)])
    with db.session() as s:
        yield list(s.scalars(select(Contact).order_by(Contact.id)))


def test_fields_come_from_the_contact_model_and_its_attributes(contacts):
    assert available_fields(contacts) == ["first_name", "last_name", "commune", "postcode",
                                          "Civilité", "Club"]
    t = SmsTemplate.parse("{Civilité} {first_name}, {Club|}" + STOP, available_fields(contacts),
                          "fr-cnil")
    assert [t.render(c) for c in contacts] == ["Mme Zoé, STOP au 36180",
                                               "Anaïs, ASE STOP au 36180", ", STOP au 36180"]


def test_the_cost_is_exact_over_the_audience(contacts):
    # GSM for Zoé (é fits), UCS-2 for Anaïs (ï does not): 150 characters of text
    t = SmsTemplate.parse("{first_name|Bonjour} " + "x" * 120 + STOP,
                          available_fields(contacts), "fr-cnil")
    e = estimate(t, contacts, parse_price("0,045"))
    assert (e.messages, e.parts, e.too_long) == (3, 1 + 3 + 1, 0)
    assert e.by_encoding == {"gsm7": 2, "ucs2": 1} and e.by_parts == {1: 2, 3: 1}
    assert e.cost == Decimal("0.225")
    tight = estimate(t, contacts, Decimal("0.05"), max_parts=2)
    assert (tight.messages, tight.too_long, tight.cost) == (2, 1, Decimal("0.10"))


def test_a_contact_whose_text_renders_empty_is_counted_apart():
    t = SmsTemplate.parse("{first_name}", FIELDS, "basic")
    e = estimate(t, [{"first_name": "Zoé"}, {}], Decimal("0.05"))
    assert (e.messages, e.empty) == (1, 1)


@pytest.mark.parametrize("bad", ["", "abc", "-0.01", "NaN"])
def test_a_bad_price_is_refused(bad):
    with pytest.raises(ConfigError, match="not a price"):
        parse_price(bad)
