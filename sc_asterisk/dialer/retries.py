"""Retry rules per outcome, and the cap per number across campaigns. Pure functions."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Iterable

from ..errors import ConfigError

DAY_MS = 86_400_000


@dataclass(frozen=True)
class RetryRule:
    max_attempts: int      # attempts in total for this outcome, the first one included
    delay_s: int
    backoff: float = 1.0   # each further retry waits delay * backoff ** (n - 1)


@dataclass(frozen=True)
class RetryPolicy:
    rules: dict[str, RetryRule]
    cap_attempts: int = 4          # per number, across all campaigns...
    cap_window_days: int = 30      # ...within this many days

    def next_delay_s(self, outcome: str, attempt_no: int) -> float | None:
        """Seconds to wait before attempt *attempt_no* + 1, or None when no retry is due.

        >>> DEFAULT_POLICY.next_delay_s("busy", 1)
        600.0
        >>> DEFAULT_POLICY.next_delay_s("answered", 1) is None
        True
        """
        rule = self.rules.get(outcome)
        if rule is None or attempt_no >= rule.max_attempts:
            return None
        return rule.delay_s * rule.backoff ** (attempt_no - 1)

    def with_overrides(self, specs: Iterable[str]) -> "RetryPolicy":
        """This policy with the rules of *specs* (``OUTCOME=MAX:DELAY_S[:BACKOFF]``, see
        :func:`parse_retry`) replacing its own for those outcomes; the others stay.

        >>> DEFAULT_POLICY.with_overrides(["busy=5:60"]).next_delay_s("busy", 4)
        60.0
        """
        return replace(self, rules={**self.rules, **dict(parse_retry(s) for s in specs)})

    def to_json(self) -> str:
        return json.dumps({"rules": {k: asdict(v) for k, v in self.rules.items()},
                           "cap_attempts": self.cap_attempts,
                           "cap_window_days": self.cap_window_days})

    @classmethod
    def from_json(cls, text: str | None) -> "RetryPolicy":
        if not text:
            return DEFAULT_POLICY
        data = json.loads(text)
        return cls({k: RetryRule(**v) for k, v in data["rules"].items()},
                   data.get("cap_attempts", 4), data.get("cap_window_days", 30))


# Never retried: answered (the person heard it), rejected (they refused), invalid numbers,
# and 'unknown' (it may have rung: a redial could be a second call).
DEFAULT_POLICY = RetryPolicy({
    "busy": RetryRule(3, 600, 1.0),
    "no_answer": RetryRule(3, 3600, 2.0),
    "unavailable": RetryRule(3, 300, 2.0),
    "failed": RetryRule(2, 300, 1.0),
    "machine": RetryRule(2, 7200, 1.0),
})


def parse_retry(spec: str) -> tuple[str, RetryRule]:
    """Parse ``OUTCOME=MAX:DELAY_S[:BACKOFF]``, e.g. ``busy=3:600`` or ``no_answer=3:3600:2``."""
    outcome, sep, rest = spec.partition("=")
    parts = rest.split(":")
    try:
        if not sep or len(parts) not in (2, 3):
            raise ValueError
        rule = RetryRule(int(parts[0]), int(parts[1]), float(parts[2]) if len(parts) == 3 else 1.0)
        if rule.max_attempts < 1 or rule.delay_s < 0 or rule.backoff < 1:
            raise ValueError
    except ValueError:
        raise ConfigError(f"bad retry rule {spec!r}",
                          fix="write OUTCOME=MAX_ATTEMPTS:DELAY_SECONDS[:BACKOFF], e.g. busy=3:600") from None
    if outcome in ("answered", "rejected", "unknown", "invalid_number"):
        raise ConfigError(f"outcome {outcome!r} is never retried",
                          fix="retry only busy, no_answer, unavailable, failed or machine")
    return outcome, rule

# For campaigns that must never retry (the lab's tests and demo).
NO_RETRY = RetryPolicy({}).to_json()


def policy_from_options(retries: Iterable[str] = (), no_retry: bool = False) -> RetryPolicy:
    """The retry policy that ``--retry`` rules (or ``--no-retry``) make of the default.

    >>> policy_from_options(no_retry=True).next_delay_s("busy", 1) is None
    True
    """
    retries = list(retries)
    if no_retry and retries:
        raise ConfigError("--no-retry and --retry exclude each other", fix="give one of them")
    return RetryPolicy({}) if no_retry else DEFAULT_POLICY.with_overrides(retries)
