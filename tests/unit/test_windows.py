from datetime import datetime, timezone

import pytest

from sc_asterisk.dialer.windows import FRANCE_DEFAULT, is_callable, next_opening, parse_window
from sc_asterisk.errors import ConfigError


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=timezone.utc)

# 2026-11-30 is a Monday. Paris is UTC+1 in winter; Réunion UTC+4; Guadeloupe UTC-4.


def test_default_profile_in_paris():
    assert is_callable(utc(2026, 11, 30, 9, 30), "Europe/Paris")       # 10:30 local
    assert not is_callable(utc(2026, 11, 30, 8, 59), "Europe/Paris")   # 09:59
    assert not is_callable(utc(2026, 11, 30, 12, 30), "Europe/Paris")  # 13:30 lunch
    assert not is_callable(utc(2026, 11, 30, 19, 0), "Europe/Paris")   # 20:00 closed
    assert not is_callable(utc(2026, 12, 5, 10, 0), "Europe/Paris")    # Saturday


def test_callee_time_zone_not_server_time_zone():
    now = utc(2026, 11, 30, 9, 30)          # 10:30 Paris, 13:30 Réunion, 05:30 Guadeloupe
    assert is_callable(now, "Europe/Paris")
    assert not is_callable(now, "Indian/Reunion")
    assert not is_callable(now, "America/Guadeloupe")
    assert is_callable(utc(2026, 11, 30, 15, 0), "America/Guadeloupe")  # 11:00 local


def test_holidays_including_overseas():
    # 11 November, Armistice: closed everywhere in France
    assert not is_callable(utc(2026, 11, 11, 10, 0), "Europe/Paris")
    # 20 December 2026 is Sunday; 27 May (abolition of slavery, Guadeloupe) 2026 is a Wednesday
    assert not is_callable(utc(2026, 5, 27, 15, 0), "America/Guadeloupe")
    assert is_callable(utc(2026, 5, 27, 9, 0), "Europe/Paris")


def test_consent_slot_intersects():
    now = utc(2026, 11, 30, 9, 30)           # Monday 10:30 Paris
    assert not is_callable(now, "Europe/Paris", consent_slot="lun-ven 18:00-20:00")
    assert is_callable(utc(2026, 11, 30, 17, 30), "Europe/Paris", consent_slot="lun-ven 18:00-20:00")


def test_campaign_window_overrides_default():
    saturday = utc(2026, 12, 5, 10, 0)
    assert is_callable(saturday, "Europe/Paris", (parse_window("sat 10:00-12:00"),))


def test_holiday_flag_and_seconds():
    armistice = utc(2026, 11, 11, 10, 0)     # a Wednesday, 11:00 Paris
    assert not is_callable(armistice, "Europe/Paris", (parse_window("wed 10:00-12:00"),))
    assert is_callable(armistice, "Europe/Paris", (parse_window("wed 10:00-12:00 +holidays"),))
    w = parse_window("mon 10:00:00-10:00:30")
    assert is_callable(utc(2026, 11, 30, 9, 0), "Europe/Paris", (w,))
    assert not is_callable(utc(2026, 11, 30, 9, 1), "Europe/Paris", (w,))


def test_next_opening():
    sunday_night = utc(2026, 11, 29, 22, 0)
    assert next_opening(sunday_night, "Europe/Paris") == utc(2026, 11, 30, 9, 0)


@pytest.mark.parametrize("text", ["", "monday 10-12", "mon 25:00-26:00", "mon 12:00-10:00",
                                  "xyz 10:00-12:00", "mon 10:00-12:00;evil"])
def test_bad_windows_are_refused(text):
    with pytest.raises(ConfigError):
        parse_window(text)


def test_default_window_days():
    assert FRANCE_DEFAULT.days == frozenset(range(5))
