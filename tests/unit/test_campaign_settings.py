"""Campaign settings the CLI hands over as typed: retry overrides, the caller ID, the list."""
from __future__ import annotations

import pytest

from sc_asterisk.contacts.numbers import NumberRejected
from sc_asterisk.db import AudioAsset
from sc_asterisk.dialer.campaigns import create_campaign, list_campaigns
from sc_asterisk.dialer.retries import DEFAULT_POLICY, RetryPolicy, RetryRule
from sc_asterisk.errors import ConfigError


def test_with_overrides_replaces_only_the_named_outcomes():
    policy = DEFAULT_POLICY.with_overrides(["busy=5:60", "machine=1:0"])
    assert policy.rules["busy"] == RetryRule(5, 60, 1.0)
    assert policy.rules["machine"] == RetryRule(1, 0, 1.0)
    for outcome in ("no_answer", "unavailable", "failed"):
        assert policy.rules[outcome] == DEFAULT_POLICY.rules[outcome]
    assert (policy.cap_attempts, policy.cap_window_days) == (DEFAULT_POLICY.cap_attempts,
                                                              DEFAULT_POLICY.cap_window_days)
    assert DEFAULT_POLICY.rules["busy"] == RetryRule(3, 600, 1.0)   # the default is untouched
    assert DEFAULT_POLICY.with_overrides([]) == DEFAULT_POLICY
    capped = RetryPolicy({}, cap_attempts=2).with_overrides(["failed=2:30:2"])
    assert capped.cap_attempts == 2 and capped.next_delay_s("failed", 1) == 30


@pytest.mark.parametrize("spec", ["busy=0:60", "answered=2:60", "busy", "busy=1:2:3:4"])
def test_with_overrides_refuses_bad_rules(spec):
    with pytest.raises(ConfigError):
        DEFAULT_POLICY.with_overrides([spec])


def _assets(s):
    for name in ("m", "n"):
        s.add(AudioAsset(name=name, sha256=name * 64, duration_ms=1000, source_filename="x",
                         data=b""))
    s.flush()


def test_the_caller_id_is_stored_in_e164_and_campaigns_list_in_creation_order(db):
    with db.session() as s:
        _assets(s)
        create_campaign(s, "b", message="m", notice="n", compliance_profile="basic",
                        caller_id="01 99 00 12 34")
        create_campaign(s, "a", message="m", notice="n", compliance_profile="basic")
        with pytest.raises(NumberRejected):
            create_campaign(s, "c", message="m", notice="n", compliance_profile="basic",
                            caller_id="12\r\nAction: Command")
        assert [(c.name, c.caller_id) for c in list_campaigns(s)] == [("b", "+33199001234"),
                                                                      ("a", None)]
