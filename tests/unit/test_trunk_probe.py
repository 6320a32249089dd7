"""`trunk test`'s report, built by telecom.probe.test_trunk over a fake AMI link."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from sc_asterisk.contacts.numbers import masked
from sc_asterisk.nodes import NodeInfo
from sc_asterisk.telecom import probe
from sc_asterisk.telecom.pjsip_status import ContactStatus, RegistrationStatus

NODE = NodeInfo("paris-1", "127.0.0.1", 5038, "u", "s", "127.0.0.1", 4573, "/tmp/s", "/s", "")


def _link(opened: list):
    @asynccontextmanager
    async def link(info):
        opened.append(info.name)
        yield "ami"
    return link


def _run(plan, monkeypatch, *, contacts=(), reg=None, call=None):
    async def qualify(ami, trunk):
        assert ami == "ami"
        return probe.QualifyResult(trunk, "Not in use", tuple(contacts))

    async def wait_registration(ami, trunk, timeout):
        return reg

    async def test_call(ami, trunk, number, prompt, prompt_ms, **kw):
        assert (prompt, prompt_ms, kw["dial_prefix"]) == (plan.prompt, plan.prompt_ms, "00")
        return call

    monkeypatch.setattr(probe, "qualify", qualify)
    monkeypatch.setattr(probe, "wait_registration", wait_registration)
    monkeypatch.setattr(probe, "test_call", test_call)
    said, opened = [], []
    report = asyncio.run(probe.test_trunk(plan, said.append, link=_link(opened)))
    assert opened == ["paris-1"]
    assert said == [report.title] + [str(line) for line in report.lines]
    return report, said


def _contact(status, rtt):
    return ContactStatus(aor="acme", uri="sip:203.0.113.10:5060", status=status, rtt_ms=rtt)


def _reg(status, expires_s):
    return RegistrationStatus("acme-reg", "sip:203.0.113.10", "acme-auth", status, expires_s)


def test_a_healthy_trunk_with_a_test_call(monkeypatch):
    plan = probe.TrunkTestPlan("acme", NODE, qualify=True, registers=True, dial_prefix="00",
                               number="+33612345678", prompt="/s/sc-trunk-test", prompt_ms=2000)
    call = probe.CallResult("+33612345678", "answered", 310, 1990, 2000, 16, "Normal Clearing")
    report, said = _run(plan, monkeypatch, contacts=[_contact("Avail", 0.66)],
                        reg=_reg("Registered", 3600), call=call)
    assert report.ok
    assert said == [
        "trunk acme on node paris-1",
        "  qualify       Avail, RTT 0.7 ms (sip:203.0.113.10:5060)",
        "  registration  Registered (expires in 3600 s)",
        "  test call     +336******78 answered after 310 ms, listened 1990 of 2000 ms "
        "(cause 16 Normal Clearing)",
    ]


def test_each_failure_makes_the_report_fail(monkeypatch):
    plan = probe.TrunkTestPlan("acme", NODE, qualify=True, registers=False)
    report, said = _run(plan, monkeypatch)
    assert not report.ok and said[1:] == ["  qualify       no contact"]

    plan = probe.TrunkTestPlan("acme", NODE, qualify=False, registers=True)
    report, said = _run(plan, monkeypatch, reg=None)
    assert not report.ok
    assert said[1:] == ["  qualify       off for this trunk (--qualify 0)",
                        "  registration  not loaded (run trunk apply)"]

    report, said = _run(plan, monkeypatch, reg=_reg("Unregistered", None))
    assert not report.ok
    assert said[-1] == ("  registration  Unregistered (no answer from the registrar after "
                        "10 s)")


def test_an_unanswered_test_call_fails(monkeypatch):
    plan = probe.TrunkTestPlan("acme", NODE, qualify=False, registers=False, dial_prefix="00",
                               number="+33612345678", prompt="/s/p", prompt_ms=1500)
    call = probe.CallResult("+33612345678", "busy", 120, None, 1500, 17, "User busy")
    report, said = _run(plan, monkeypatch, call=call)
    assert not report.ok
    assert said[-1] == "  test call     +336******78 busy after 120 ms (cause 17 User busy)"


def test_masked_keeps_short_numbers_and_hides_the_middle():
    assert masked("+33612345678") == "+336******78"
    assert masked("123456") == "123456"
