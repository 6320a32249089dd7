"""SMS encoding and part counting on French texts (GSM 03.38 from the gsm0338 codec)."""
import pytest

from sc_asterisk.errors import ConfigError
from sc_asterisk.sms.encoding import (GSM7, UCS2, MessageTooLong, encode, encoding_of,
                                      part_count)


@pytest.mark.parametrize("text", ["é è à ù É Ç", "Où est-ce? Déjà là: à 9h, 5 € !", "Mélanie Müller Åsa Øre ñ"])
def test_accents_of_the_gsm_table_stay_gsm(text):
    assert encode(text).encoding == GSM7


@pytest.mark.parametrize("char", ["ê", "â", "î", "ô", "û", "ë", "ï", "œ", "ç", "’", "«", "À"])
def test_an_accent_outside_the_gsm_table_forces_ucs2_and_is_named(char):
    text = f"Bonjour, réunion à la mairie {char} 18h"
    encoded = encode(text)
    assert encoded.encoding == UCS2
    assert encoded.not_gsm == (char,)
    assert encoding_of("Fête de l’école") == (UCS2, ("ê", "’"))


def test_the_gsm_single_message_boundary_is_160_septets():
    assert encode("é" * 160).part_count == 1
    assert encode("é" * 161).part_count == 2
    assert encode("é" * 161).parts == ("é" * 153, "é" * 8)


def test_the_euro_sign_counts_double():
    assert encode("€" * 80).units == 160 and encode("€" * 80).part_count == 1
    assert encode("a" + "€" * 80).part_count == 2
    assert encode("a" * 159 + "€").part_count == 2
    assert encode("a" * 158 + "€").part_count == 1


def test_an_escaped_character_is_never_split_across_parts():
    # 152 septets, then € (2): it does not fit in the first part's last septet
    encoded = encode("a" * 152 + "€" + "b" * 10)
    assert encoded.parts == ("a" * 152, "€" + "b" * 10)
    assert all(len(p) <= 153 for p in encoded.payloads())


def test_the_ucs2_single_message_boundary_is_70_units():
    assert encode("ê" * 70).part_count == 1
    assert encode("ê" * 71).part_count == 2
    assert [len(p) for p in encode("ê" * 71).parts] == [67, 4]


def test_an_emoji_counts_two_units_and_is_never_split():
    assert encode("🙂" * 35).units == 70 and encode("🙂" * 35).part_count == 1
    assert encode("a" + "🙂" * 35).part_count == 2
    # 66 units, then a pair that would end on unit 68 of a 67-unit part
    encoded = encode("a" * 66 + "🙂" + "bbb")
    assert encoded.parts == ("a" * 66, "🙂bbb")
    assert all(len(p) <= 134 for p in encoded.payloads())
    # each part decodes on its own: no half of a surrogate pair anywhere
    assert "".join(p.decode("utf-16-be") for p in encoded.payloads()) == encoded.text


@pytest.mark.parametrize("length,parts", [(306, 2), (307, 3), (459, 3), (460, 4)])
def test_gsm_multipart_counts(length, parts):
    assert part_count("a" * length) == parts


@pytest.mark.parametrize("length,parts", [(134, 2), (135, 3), (201, 3), (202, 4)])
def test_ucs2_multipart_counts(length, parts):
    assert part_count("ô" * length) == parts


def test_payloads_are_unpacked_septets_or_utf16():
    assert encode("é€").payloads() == [b"\x05\x1b\x65"]
    assert encode("ê").payloads() == ["ê".encode("utf-16-be")]


def test_the_parts_limit_refuses_with_the_fix():
    encode("a" * 459, max_parts=3)
    with pytest.raises(MessageTooLong) as err:
        encode("Fête " + "a" * 200, max_parts=3)
    line = err.value.one_line()
    assert "4 SMS parts" in line and "limit of 3" in line and "without ê it would be GSM" in line
    assert "\n" not in line


@pytest.mark.parametrize("bad", [0, 256, "3"])
def test_a_parts_limit_out_of_range_is_refused(bad):
    with pytest.raises(ConfigError, match="max parts"):
        encode("a", max_parts=bad)


def test_an_empty_text_is_refused():
    with pytest.raises(ConfigError, match="needs a text"):
        encode("")
