"""Caller-ID rules (ARCEP decision 2022-1583 under fr-cnil): every reserved range just inside
and just outside, each overseas range against each territory, mobiles, the lab's fiction
range, and `campaign create` / `campaign queue` applying them."""
from collections import Counter

import pytest
from click.testing import CliRunner

from sc_asterisk.cli import main
from sc_asterisk.cli.common import cli
from sc_asterisk.contacts.callerid import check_caller_id, serves
from sc_asterisk.db import CallAttempt, Contact
from sc_asterisk.dialer.campaigns import create_campaign, get_campaign, queue_contacts
from sc_asterisk.contacts.numbers import NumberRejected
from sc_asterisk.errors import ConfigError

# (first, last) number of each reserved range, written independently of the module's table.
METRO_RANGES = [("0162000000", "0163999999"), ("0270000000", "0271999999"),
                ("0377000000", "0378999999"), ("0424000000", "0425999999"),
                ("0568000000", "0569999999"), ("0948000000", "0949999999")]
OVERSEAS_RANGES = [("0947500000", "0947599999", {"GP", "MF", "BL"}),
                   ("0947600000", "0947699999", {"GF"}),
                   ("0947700000", "0947799999", {"MQ"}),
                   ("0947800000", "0947899999", {"RE", "YT"}),
                   ("0947900000", "0947999999", {"RE", "YT"})]
INSIDE = [n for pair in METRO_RANGES for n in pair] + \
    [n for first, last, _ in OVERSEAS_RANGES for n in (first, last)] + \
    ["0162999999", "0163000000", "0270999999", "0271000000", "0948999999", "0949000000"]
# Just below and just above every contiguous block (09 474 99 99 is below 09 475; above 09 479
# comes 09 48, itself reserved; 09 49 99 99 99's neighbour is 09 50).
OUTSIDE = ["0161999999", "0164000000", "0269999999", "0272000000", "0376999999", "0379000000",
           "0423999999", "0426000000", "0567999999", "0570000000", "0947499999", "0950000000",
           "0188335074"]   # the number the press story's reporter called back

CALLEES = {"FR": "+33145678901", "GP": "+590590201234", "MF": "+590590871234",
           "GF": "+594594301234", "MQ": "+596596301234", "RE": "+262262301234",
           "YT": "+262269601234", "PM": "+508411234", "BE": "+32470123456"}


def e164(national: str) -> str:
    return "+33" + national[1:]


@pytest.mark.parametrize("number", INSIDE)
def test_every_reserved_range_is_allowed_at_both_ends(number):
    assert check_caller_id("fr-cnil", number) == e164(number)


@pytest.mark.parametrize("number", OUTSIDE)
def test_numbers_just_outside_the_ranges_are_refused_naming_the_decision_and_ranges(number):
    with pytest.raises(ConfigError) as err:
        check_caller_id("fr-cnil", number)
    line = err.value.one_line()
    assert "ARCEP decision 2022-1583" in line and "01 62" in line and "09 479" in line
    assert "\n" not in line
    assert check_caller_id("basic", number) == e164(number)   # basic: no rule


@pytest.mark.parametrize("number", ["06 12 34 56 78", "07 51 23 45 67", "+590690001234",
                                    "+262692123456"])
def test_mobiles_are_refused_under_fr_cnil_as_person_to_person_numbers(number):
    with pytest.raises(ConfigError, match="mobile.*person-to-person.*2022-1583"):
        check_caller_id("fr-cnil", number)
    check_caller_id("basic", number)


def test_the_fiction_range_is_allowed_only_on_the_lab_trunk():
    assert check_caller_id("fr-cnil", "01 99 00 12 34", lab_trunk=True) == "+33199001234"
    with pytest.raises(ConfigError, match="only on the lab trunk"):
        check_caller_id("fr-cnil", "01 99 00 12 34", lab_trunk=False)


def test_a_caller_id_that_is_no_number_is_refused_in_one_line():
    with pytest.raises(NumberRejected, match="not a callable phone number"):
        check_caller_id("fr-cnil", "12\r\nAction: Command")


@pytest.mark.parametrize("first,last", METRO_RANGES)
def test_metropolitan_ranges_call_metropolitan_callees_only(first, last):
    for number in (first, last):
        for region, callee in CALLEES.items():
            assert serves("fr-cnil", e164(number), callee) is (region == "FR"), (number, region)


@pytest.mark.parametrize("first,last,territories", OVERSEAS_RANGES)
def test_each_overseas_range_calls_its_own_territories_only(first, last, territories):
    for number in (first, last):
        for region, callee in CALLEES.items():
            assert serves("fr-cnil", e164(number), callee) is (region in territories), \
                (number, region)


def test_without_a_rule_or_a_caller_id_every_callee_is_served():
    for callee in CALLEES.values():
        assert serves("basic", "+33188335074", callee)
        assert serves("fr-cnil", None, callee)
        assert serves("fr-cnil", "+33199001234", callee)   # the lab's fiction range


@pytest.fixture
def audio(db, tmp_path):
    from sc_asterisk.audio import import_audio
    import subprocess
    wav = tmp_path / "t.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(wav), "synth", "0.2",
                    "sine", "440"], check=True)
    with db.session() as s:
        for name in ("intro", "msg", "notice"):
            import_audio(s, wav, name)
    return db


def test_campaign_create_refuses_an_outside_caller_id_in_one_line(audio, _private_home, capsys):
    args = ["--db", audio.url, "--home", str(_private_home), "campaign", "create", "muni",
            "--optout-intro", "intro", "--message", "msg", "--notice", "notice", "--trunk", "acme"]
    with pytest.raises(SystemExit) as code:
        main(args + ["--caller-id", "01 88 33 50 74"])
    err = capsys.readouterr().err
    assert code.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "ARCEP decision 2022-1583" in err and "01 62" in err and "09 475" in err
    out = CliRunner().invoke(cli, args + ["--caller-id", "01 62 00 00 00"])
    assert out.exit_code == 0, out.output


def test_queue_leaves_out_callees_of_another_territory(audio):
    with audio.session() as s:
        c = create_campaign(s, "reunion", message="msg", notice="notice", optout_intro="intro",
                            caller_id="09 47 80 00 00", trunk="acme")
        ids = []
        for number in (CALLEES["RE"], CALLEES["YT"], CALLEES["FR"], CALLEES["GF"]):
            contact = Contact(e164=number)
            s.add(contact)
            s.flush()
            ids.append(contact.id)
        excluded = Counter()
        assert queue_contacts(s, c, ids, excluded=excluded) == 2
        assert excluded == {"caller-id-territory": 2}
        assert sorted(a.number for a in s.query(CallAttempt)) == sorted([CALLEES["RE"],
                                                                        CALLEES["YT"]])
        assert get_campaign(s, "reunion").caller_id == "+33947800000"
