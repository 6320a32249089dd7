"""`trunk apply`'s check of what Asterisk loaded, over a fake AMI link: Asterisk makes outbound
registrations in the background after a PJSIP reload has answered, so a registration missing at
the first look is looked for again before it is reported (a lab run reported a registering
trunk "not loaded" this way)."""
from __future__ import annotations

import asyncio
from pathlib import Path

from sc_asterisk.nodes import NodeInfo
from sc_asterisk.telecom.apply import ApplyPlan, loaded_problems

NODE = NodeInfo("paris-1", "127.0.0.1", 5038, "u", "s", "127.0.0.1", 4573, "/tmp/s", "/s", "")
REGISTERED = " acme-reg/sip:192.0.2.1:5060  acme-auth  Registered  (exp. 3587s)"


class SlowRegistrations:
    """Answers like Asterisk right after a reload: the registration appears at the n-th look."""

    def __init__(self, appears_at: int | None):
        self.appears_at, self.looks = appears_at, 0

    async def action(self, fields):
        command = fields["Command"]
        if command == "pjsip show registrations":
            self.looks += 1
            shown = self.appears_at is not None and self.looks >= self.appears_at
            return {"Output": REGISTERED if shown else "No objects found."}
        assert command == "pjsip show endpoint acme", command
        return {"Output": " Endpoint:  acme   Not in use    0 of inf"}


PLAN = ApplyPlan("paris-1", NODE, Path("/tmp/x"), "", ("acme",), ("acme",))


def test_a_registration_asterisk_makes_after_the_reload_is_not_reported_missing():
    ami = SlowRegistrations(appears_at=3)
    assert asyncio.run(loaded_problems(ami, PLAN)) == []
    assert ami.looks == 3


def test_a_registration_that_never_appears_is_reported_after_the_bound():
    ami = SlowRegistrations(appears_at=None)
    problems = asyncio.run(loaded_problems(ami, PLAN, settle_s=0.3))
    assert problems == ["trunk acme: registration not loaded (a tcp/tls trunk needs a transport "
                        "of that protocol in pjsip.conf)"]
    assert ami.looks >= 2
