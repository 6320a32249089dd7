"""Apply trunks to nodes: render each node's ``sc-trunks.conf`` into its config dir, atomically,
then ask Asterisk to reload PJSIP over AMI.

Files are written only where the project owns them: a file already at the target path that
does not start with the project's marker line was written by someone else and is never touched.
"""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from ..ami import AmiClient
from ..asterisk_conf.trunks import MARKER, TRUNKS_FILE, endpoint_name, render_trunks
from ..db.models_telecom import Node
from ..errors import AmiError, ConfigError
from ..files import atomic_writer
from ..nodes import NodeInfo
from .link import ami_link, cli
from .nodes import carried_trunks, net_conf, node_info
from .pjsip_status import parse_registrations
from .trunks import trunk_conf


# After a PJSIP reload Asterisk makes the outbound registrations in the background: a missing
# one is looked for again for this long before it is reported as not loaded.
REGISTRATIONS_SETTLE_S = 3.0


@dataclass(frozen=True)
class ApplyPlan:
    """One node's rendered trunk file, ready to write (rendering already validated it)."""

    node: str
    info: NodeInfo
    path: Path
    text: str
    trunks: tuple[str, ...]
    registering: tuple[str, ...] = ()


def plan_apply(node: Node) -> ApplyPlan:
    """Render the trunks *node* carries (reads secret files, writes nothing).

    Example: ``plan = plan_apply(get_node(s, "paris-1")); write_plan(plan)``
    """
    trunks = carried_trunks(node)
    text = render_trunks([trunk_conf(t) for t in trunks], node=node.name, net=net_conf(node))
    return ApplyPlan(node.name, node_info(node), Path(node.config_dir) / TRUNKS_FILE, text,
                     tuple(t.name for t in trunks), tuple(t.name for t in trunks if t.register))


def write_owned(path: Path, text: str, mode: int = 0o640) -> Path:
    """Write *text* to *path* atomically, refusing to replace a file we did not write.

    The file takes the directory's group, so Asterisk (group ``asterisk``) can read a file the
    controller writes with mode 0640 (it holds SIP secrets).

    Example: ``write_owned(Path("/etc/asterisk/sc-trunks.conf"), text)``
    """
    if not text.startswith(MARKER):
        raise ConfigError(f"refusing to write {path.name} without the sc-asterisk marker line",
                          fix="report this as a bug")
    path = Path(path)
    check_target(path)
    with atomic_writer(path, mode) as out:
        try:
            os.fchown(out.fileno(), -1, path.parent.stat().st_gid)
        except PermissionError:
            pass  # not in that group: the file keeps ours, and the engineer sets permissions
        out.write(text.encode())
    return path


def check_target(path: Path) -> None:
    """ConfigError unless *path* can be written: its directory exists and any file there is ours."""
    if not Path(path).parent.is_dir():
        raise ConfigError(f"config dir {Path(path).parent} does not exist",
                          fix="create it (or mount the node's directory), or fix --config-dir")
    check_owned(path)


def check_owned(path: Path) -> None:
    """ConfigError unless *path* is absent or a regular file starting with our marker line."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    if path.is_symlink() or not path.is_file():
        raise ConfigError(f"{path} exists and is not a regular file written by sc-asterisk",
                          fix="move it away; sc-asterisk only replaces files it wrote")
    with open(path, "rb") as f:
        first = f.readline()
    if not first.startswith(MARKER.encode()):
        raise ConfigError(f"{path} was not written by sc-asterisk",
                          fix="move it away (or merge it by hand); sc-asterisk only replaces "
                              "files whose first line is its marker")


async def reload_pjsip(ami: AmiClient) -> str:
    """Reload PJSIP's configuration (endpoints, AORs, auths, registrations, identifies).

    Example: ``await reload_pjsip(ami)`` -> ``"Module 'res_pjsip.so' reloaded successfully."``
    """
    text = await cli(ami, "module reload res_pjsip.so")
    if "reloaded successfully" not in text and "not need reloading" not in text:
        raise AmiError(f"PJSIP reload failed: {text.strip()[:120]}",
                       fix="see the Asterisk log (pjsip.conf or sc-trunks.conf has an error)")
    return text.strip()


async def endpoint_loaded(ami: AmiClient, endpoint: str) -> bool:
    """True when Asterisk has the PJSIP endpoint (it answers "Unable to find object" if not)."""
    try:
        text = await cli(ami, f"pjsip show endpoint {endpoint}")
    except AmiError:
        return False
    return "Unable to find object" not in text and f"Endpoint:  {endpoint}" in text


async def loaded_problems(ami: AmiClient, plan: ApplyPlan,
                          settle_s: float = REGISTRATIONS_SETTLE_S) -> list[str]:
    """What Asterisk did not load of the plan (it logs why, and keeps going without it)."""
    problems = []
    registrations = await _registrations(ami, plan, settle_s)
    for name in plan.trunks:
        endpoint = endpoint_name(name)
        if not await endpoint_loaded(ami, endpoint):
            problems.append(f"trunk {name}: endpoint {endpoint} not loaded")
        if name in plan.registering and f"{endpoint}-reg" not in registrations:
            problems.append(f"trunk {name}: registration not loaded (a tcp/tls trunk needs a "
                            "transport of that protocol in pjsip.conf)")
    return problems


async def _registrations(ami: AmiClient, plan: ApplyPlan, settle_s: float) -> dict:
    """The node's outbound registrations, asked again (every 0.1 s, up to *settle_s*) while
    one of the plan's is missing: Asterisk creates them after the reload has answered."""
    wanted = {f"{endpoint_name(name)}-reg" for name in plan.registering}
    deadline = asyncio.get_running_loop().time() + settle_s
    while True:
        registrations = parse_registrations(await cli(ami, "pjsip show registrations"))
        if wanted <= set(registrations) or asyncio.get_running_loop().time() >= deadline:
            return registrations
        await asyncio.sleep(0.1)


async def apply_plan(plan: ApplyPlan, timeout: float = 5.0) -> tuple[str, list[str]]:
    """Write the plan's file, reload PJSIP on its node, and check every trunk was loaded.

    Returns Asterisk's answer and the problems found (see the node's Asterisk log for details).
    Example: ``answer, problems = await apply_plan(plan)``
    """
    write_owned(plan.path, plan.text)
    async with ami_link(plan.info, timeout) as ami:
        answer = await reload_pjsip(ami)
        return answer, await loaded_problems(ami, plan)
