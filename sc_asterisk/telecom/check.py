"""``node check``: can the controller drive this node, and can the node reach the controller?

Checks, in order: the AMI port answers with the manager banner; the login succeeds; the
version; the modules the project needs are loaded; the project's dialplan and globals are in
place; and Asterisk's FastAGI requests reach the controller.

The FastAGI check is end to end, from Asterisk's side: a throw-away context holding
``AGI(${SC_AGI}/sc-check?token=...)`` is added to the running dialplan (in memory only: the
``dialplan add extension`` CLI command, removed afterwards), a Local channel is originated into
it, and the channel's hangup cause tells whether Asterisk's AGI connected (AGISTATUS).
When this machine can listen on the FastAGI port (``serve`` is not running), the check also
listens there and sees the request arrive with its token. When ``serve`` holds the port, its
server answers the unknown script by closing, which still proves the path.
"""
from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from dataclasses import dataclass, field

from ..aio import within
from ..agi import AgiGate, AgiServer, agi_url
from ..ami import AmiClient
from ..chanvars import SC_AGI, SC_SOUNDS
from ..errors import AmiError, ScError
from ..nodes import NodeInfo
from .link import ami_link, cli
from .pjsip_status import nat_mismatches, parse_parameters, parse_transports

REQUIRED_MODULES = (
    "res_pjsip", "res_pjsip_session", "chan_pjsip", "res_pjsip_outbound_registration",
    "res_pjsip_endpoint_identifier_ip", "res_rtp_asterisk", "res_agi", "app_amd",
    "app_playback", "pbx_config", "func_logic", "format_wav", "codec_alaw", "codec_ulaw",
)
REQUIRED_CONTEXTS = ("sc-broadcast", "sc-callback")
CHECK_SCRIPT = "sc-check"
_AGI_OK, _AGI_FAILED = 16, 38   # hangup causes the check context uses to report AGISTATUS
_VERSION = re.compile(r"Asterisk\s+(\d+)\.(\d+)")


@dataclass
class CheckItem:
    name: str
    ok: bool
    detail: str


@dataclass
class CheckReport:
    """Example: ``report.ok``, ``report.reason`` (the first failure, one line)."""

    node: str
    items: list[CheckItem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.items)

    @property
    def reason(self) -> str | None:
        failed = [i for i in self.items if not i.ok]
        return f"{failed[0].name}: {failed[0].detail}" if failed else None

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.items.append(CheckItem(name, ok, detail))


async def check_node(info: NodeInfo, agi_bind: str = "0.0.0.0", timeout: float = 5.0,
                     check_agi: bool = True, agi_token: str = "",
                     public_address: str | None = None,
                     callback_numbers: tuple[str, ...] = (),
                     extra_modules: tuple[str, ...] = ()) -> CheckReport:
    """Run every check against *info*. *agi_token* is the installation's FastAGI token, which
    the node's ``SC_AGI`` must carry. *public_address* is the node's (None: not behind NAT):
    every transport Asterisk runs must use it. *callback_numbers* are the caller IDs the node
    answers (its trunks' numbers), listed. *extra_modules*: what its trunks need besides
    (``res_srtp`` for an SRTP trunk). A node that cannot be logged into raises AmiError
    (one line: refused port, no answer, bad credentials); later failures are report items.

    Example: ``report = await check_node(node_info(node)); print(report.reason or "ok")``
    """
    report = CheckReport(info.name)
    async with ami_link(info, timeout) as ami:
        report.add("ami", True, f"logged in to {info.ami_host}:{info.ami_port} as {info.ami_user}")
        await _check_version(ami, report)
        await _check_modules(ami, report, REQUIRED_MODULES + tuple(extra_modules))
        await _check_dialplan(ami, info, agi_token, report)
        await _check_nat(ami, public_address, report)
        report.add("callback", True,
                   f"answers {', '.join(callback_numbers)}" if callback_numbers else
                   "answers no caller ID (a campaign under fr-cnil needs one: "
                   "sc-asterisk trunk edit TRUNK --did NUMBER)")
        if check_agi:
            await _check_fastagi(ami, info, agi_bind, timeout, agi_token, report)
    return report


async def _check_version(ami: AmiClient, report: CheckReport) -> None:
    text = (await cli(ami, "core show version")).strip()
    m = _VERSION.search(text)
    if m is None:
        report.add("version", False, f"unexpected answer to core show version: {text[:60]!r}")
    elif int(m[1]) < 20:
        report.add("version", False, f"Asterisk {m[1]}.{m[2]} is too old (need 20 or later)")
    else:
        report.add("version", True, text.split(" built by")[0])


async def _check_modules(ami: AmiClient, report: CheckReport,
                         modules: tuple[str, ...] = REQUIRED_MODULES) -> None:
    missing = []
    for module in modules:
        try:
            await ami.action({"Action": "ModuleCheck", "Module": module})
        except AmiError:
            missing.append(module)
    if missing:
        report.add("modules", False,
                   f"not loaded: {', '.join(missing)} (load them in modules.conf)")
    else:
        report.add("modules", True, f"{len(modules)} required modules loaded")


async def _check_dialplan(ami: AmiClient, info: NodeInfo, agi_token: str,
                          report: CheckReport) -> None:
    missing = []
    for context in REQUIRED_CONTEXTS:
        try:
            await cli(ami, f"dialplan show {context}")
        except AmiError:
            missing.append(context)
    if missing:
        report.add("dialplan", False, f"missing context {', '.join(missing)} "
                                      "(include sc-dialplan.conf: see sc-asterisk asterisk render)")
        return
    expected = {SC_AGI: agi_url(info.agi_host, info.agi_port, agi_token),
                SC_SOUNDS: info.asterisk_sounds_dir}
    wrong = []
    for name, want in expected.items():
        try:
            got = (await ami.action({"Action": "Getvar", "Variable": name})).get("Value", "")
        except AmiError:
            got = ""
        if got != want:
            wrong.append(f"{name} is {_masked(got, agi_token) or 'unset'!s}, "
                         f"expected {_masked(want, agi_token)}")
    if wrong:
        report.add("dialplan", False, "; ".join(wrong) + " (re-render the globals and reload)")
    else:
        report.add("dialplan", True, f"contexts {', '.join(REQUIRED_CONTEXTS)}; "
                                     f"{SC_AGI}={_masked(expected[SC_AGI], agi_token)}")


async def _check_nat(ami: AmiClient, public: str | None, report: CheckReport) -> None:
    """The external addresses Asterisk's transports run with against the node's public one."""
    transports = {}
    for name in parse_transports(await cli(ami, "pjsip show transports")):
        transports[name] = parse_parameters(await cli(ami, f"pjsip show transport {name}"))
    problems = nat_mismatches(transports, public)
    if problems:
        report.add("nat", False, "; ".join(problems) + " (run asterisk render or trunk apply, "
                                 "then restart Asterisk: a changed transport is not reloaded)")
    elif public:
        report.add("nat", True, f"{len(transports)} transport(s) announce {public}")
    else:
        report.add("nat", True, "no public address (not behind NAT)")


async def _check_fastagi(ami: AmiClient, info: NodeInfo, agi_bind: str, timeout: float,
                         agi_token: str, report: CheckReport) -> None:
    token = secrets.token_hex(8)
    arrived: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_check(session) -> None:
        if session.env.get("agi_network_script", "").endswith(f"token={token}") \
                and not arrived.done():
            arrived.set_result(session.env.get("agi_channel", ""))

    server = AgiServer({CHECK_SCRIPT: on_check}, host=agi_bind, port=info.agi_port,
                       gate=AgiGate(token=agi_token))
    try:
        await server.start()
        listening = True
    except OSError:
        listening = False  # `serve` (or something else) holds the port: rely on AGISTATUS
    try:
        cause = await _originate_check(ami, token, timeout)
    finally:
        if listening:
            await server.stop(grace=0)
    where = f"agi://{info.agi_host}:{info.agi_port}"
    if cause != _AGI_OK:
        why = "no answer from the check channel" if cause is None else "connection failed"
        report.add("fastagi", False, f"Asterisk cannot reach the controller at {where} ({why}; "
                                     "check agi_host, the controller's firewall and that it "
                                     "listens on that address)")
    elif listening and not arrived.done():
        report.add("fastagi", False, f"Asterisk reached {where}, but not this controller "
                                     "(another FastAGI server answers there)")
    else:
        how = "request seen here" if listening else "answered by the running controller"
        report.add("fastagi", True, f"Asterisk reaches {where} ({how})")


def _masked(url: str, token: str) -> str:
    """The token is a credential: reports show where it is, never what it is."""
    if not url.startswith("agi://"):
        return url
    head, sep, rest = url[len("agi://"):].partition("/")
    if not sep:
        return url
    return f"agi://{head}/" + ("<installation token>" if rest == token and token else "<other token>")


async def _originate_check(ami: AmiClient, token: str, timeout: float) -> int | None:
    """Run AGI from a throw-away context and return the hangup cause that reports AGISTATUS."""
    context = f"sc-check-{token}"
    channel_id, other_id = str(uuid.uuid4()), str(uuid.uuid4())
    hangup: asyncio.Future = asyncio.get_running_loop().create_future()

    def on_hangup(event: dict) -> None:
        if event.get("Uniqueid") == other_id and not hangup.done():
            hangup.set_result(event.get("Cause"))

    ami.on("Hangup", on_hangup)
    # No spaces and no quotes: the CLI splits and unquotes its arguments.
    await cli(ami, f"dialplan add extension s,1,AGI(${{SC_AGI}}/{CHECK_SCRIPT}?token={token}) "
                   f"into {context}")
    try:
        await cli(ami, f"dialplan add extension s,2,Hangup(${{IF($[${{AGISTATUS}}=SUCCESS]"
                       f"?{_AGI_OK}:{_AGI_FAILED})}}) into {context}")
        await ami.action({"Action": "Originate", "Channel": f"Local/s@{context}/n",
                          "Application": "Wait", "Data": "1", "Async": "true",
                          "Timeout": str(int(timeout * 1000)),
                          "ChannelId": channel_id, "OtherChannelId": other_id})
        try:
            cause = await within(hangup, timeout + 5)
        except asyncio.TimeoutError:
            return None
        try:
            return int(cause)
        except (TypeError, ValueError):
            return None
    finally:
        try:
            await cli(ami, f"dialplan remove context {context}")
        except ScError:
            pass  # the context is in memory only; the next dialplan reload drops it anyway
