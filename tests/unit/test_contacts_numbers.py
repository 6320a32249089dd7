"""Number normalisation: every French way of writing a number, overseas, foreign, refused types."""
import pytest

from sc_asterisk.contacts.numbers import NumberRejected, check_region, normalise, to_e164
from sc_asterisk.errors import ScError


@pytest.mark.parametrize("raw", [
    "06 12 34 56 78", "0612345678", "+33 6 12 34 56 78", "+33612345678", "0033 6 12 34 56 78",
    "6.12.34.56.78", "06-12-34-56-78", "+33 (0)6 12 34 56 78", "06\u202f12\u00a034 56 78",
    " 06 12 34 56 78 ",
])
def test_french_mobile_formats_normalise_to_one_e164(raw):
    info = normalise(raw)
    assert (info.e164, info.number_type, info.time_zone) == ("+33612345678", "mobile",
                                                              "Europe/Paris")


@pytest.mark.parametrize("raw, e164, zone", [
    ("+262 692 12 34 56", "+262692123456", "Indian/Reunion"),
    ("0692 12 34 56", "+262692123456", "Indian/Reunion"),     # written nationally in mainland
    ("+590 690 12 34 56", "+590690123456", "America/Guadeloupe"),
    ("+596 696 12 34 56", "+596696123456", "America/Martinique"),
    ("0696 12 34 56", "+596696123456", "America/Martinique"),
    ("+594 694 12 34 56", "+594694123456", "America/Cayenne"),
    ("0269 61 23 45", "+262269612345", "Indian/Mayotte"),
    ("+269 321 23 45", "+2693212345", "Indian/Comoro"),
    ("+44 7911 123456", "+447911123456", "Europe/Guernsey"),
    ("+1 212 555 0100", "+12125550100", "America/New_York"),
])
def test_overseas_and_foreign_numbers_keep_their_own_time_zone(raw, e164, zone):
    info = normalise(raw)
    assert (info.e164, info.time_zone) == (e164, zone)


@pytest.mark.parametrize("raw, reason", [
    ("08 92 12 34 56", "premium-rate"),
    ("0899 12 34 56", "premium-rate"),
    ("08 10 12 34 56", "shared-cost"),
    ("0800 12 34 56", "toll-free"),
    ("3615", "too-short"),
    ("112", "too-short"),
    ("06 12", "too-short"),
    ("+33 6 12 34 56 78 9", "too-long"),
    ("07 00 00 00 00", "invalid"),
    ("", "missing-phone"),
    ("   ", "missing-phone"),
    ("abc", "not-a-number"),
    ("06 CALL ME", "not-a-number"),           # vanity letters are never turned into digits
    ("=0612345678", "not-a-number"),
    ("@0612345678", "not-a-number"),
    ("０６１２３４５６７８", "not-a-number"),     # full-width digits
    ("06 12 34 56 78 ext. 12", "not-a-number"),
])
def test_uncallable_numbers_are_rejected_with_a_reason(raw, reason):
    with pytest.raises(NumberRejected) as err:
        normalise(raw)
    assert err.value.reason == reason


def test_to_e164_accepts_any_valid_type_for_suppression_but_not_garbage():
    assert to_e164("08 92 12 34 56") == "+33892123456"
    with pytest.raises(NumberRejected):
        to_e164("0612")


def test_non_text_is_rejected_not_coerced():
    with pytest.raises(NumberRejected) as err:
        normalise(612345678)
    assert err.value.reason == "not-text"


def test_region_option_changes_national_parsing():
    assert normalise("0470 12 34 56", "BE").e164 == "+32470123456"
    assert check_region("be") == "BE"
    with pytest.raises(ScError):
        check_region("XX")
