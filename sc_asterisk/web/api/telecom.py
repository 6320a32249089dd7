"""Nodes and trunks: list and show, as the CLI describes them (secrets masked, never read);
their live state (asked of the node), ``node check`` and ``trunk test``."""
from __future__ import annotations

import re
import time
from dataclasses import asdict
from typing import Callable

from fastapi import APIRouter, Depends, Query, Request

from ...agi.auth import derive_token
from ...contacts.audit import record_audit
from ...errors import ScError
from ...telecom import nodes, trunks
from ...telecom.check import check_node
from ...telecom.probe import plan_trunk_test, test_trunk
from ...telecom.state import node_state, plan_node_check, state_plan
from ...users.roles import Permission
from ..auth import Principal, require
from ..schemas import Page, TrunkTestIn

router = APIRouter(tags=["telecom"])
READ = Depends(require(Permission.TELECOM_READ))


def _json_keys(described: dict[str, str]) -> dict[str, str]:
    """``describe()``'s human keys as JSON keys: "max channels" -> "max_channels"."""
    return {re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_"): value
            for key, value in described.items()}


def _routes(kind: str, rows: Callable, get: Callable, describe: Callable) -> None:
    def list_(request: Request, limit: int = Query(50, ge=1, le=500),
              offset: int = Query(0, ge=0), _who: Principal = READ) -> Page[dict]:
        with request.app.state.db.session() as s:
            every = rows(s)
            items = [_json_keys(describe(r)) for r in every[offset:offset + limit]]
        return Page[dict](items=items, total=len(every), limit=limit, offset=offset)

    def show(name: str, request: Request, _who: Principal = READ) -> dict:
        with request.app.state.db.session() as s:
            return _json_keys(describe(get(s, name)))

    list_.__name__, show.__name__ = f"list_{kind}s", f"show_{kind}"
    list_.__doc__ = f"{kind.capitalize()}s by name, a page at a time (secrets masked)."
    show.__doc__ = f"One {kind}'s settings (the secret masked, never read)."
    router.get(f"/{kind}s", response_model=Page[dict])(list_)
    router.get(f"/{kind}s/{{name}}")(show)


_routes("node", nodes.list_nodes, nodes.get_node, nodes.describe)
_routes("trunk", trunks.list_trunks, trunks.get_trunk, trunks.describe)


# A node's live state is asked of the node (a short AMI session); every viewer within this
# many seconds gets the same answer.
STATE_EVERY_S = 5.0


async def _state(request: Request, name: str) -> dict:
    _states = request.app.state.node_states
    cached = _states.get(name)
    if cached and time.monotonic() - cached[0] < STATE_EVERY_S:
        return cached[1]
    with request.app.state.db.session() as s:
        info, carried = state_plan(s, name)
    now = await node_state(info, carried)
    _states[name] = (time.monotonic(), asdict(now))
    return _states[name][1]


@router.get("/nodes/{name}/state")
async def node_live_state(name: str, request: Request, _who: Principal = READ) -> dict:
    """The node now, asked over AMI (at most every 5 s): AMI up (else why not), channels up
    on it (all of them), each carried trunk's registration (null: it does not register)."""
    return await _state(request, name)


@router.get("/trunks/{name}/state")
async def trunk_live_state(name: str, request: Request, _who: Principal = READ) -> dict:
    """The trunk's registration on each enabled node that carries it, with that node's AMI
    state (as ``/nodes/NAME/state``)."""
    with request.app.state.db.session() as s:
        carriers = [n.name for n in trunks.get_trunk(s, name).nodes if n.enabled]
    out = {}
    for node in carriers:
        state = await _state(request, node)
        out[node] = {"ami_up": state["ami_up"], "error": state["error"],
                     "registration": state["registrations"].get(name)}
    return {"trunk": name, "nodes": out}


@router.post("/nodes/{name}/check")
async def check_node_(name: str, request: Request,
                      agi: bool = Query(False, description="also the FastAGI path (binds the "
                                        "node's AGI port here: not beside a running serve)"),
                      timeout: float = Query(5.0, ge=0.5, le=60),
                      who: Principal = Depends(require(Permission.TELECOM_READ))) -> dict:
    """``node check``: AMI login, version, modules, dialplan, NAT, callback numbers (and
    FastAGI with ``agi=true``); ``ok`` false with the first failure in ``reason``. Audited."""
    with request.app.state.db.session() as s:
        plan = plan_node_check(s, name)
        record_audit(s, "node-check", None, {"node": name}, who.actor)
    try:
        report = await check_node(plan.info, timeout=timeout, check_agi=agi,
                                  agi_token=derive_token(request.app.state.key),
                                  public_address=plan.public_address,
                                  callback_numbers=plan.callback_numbers,
                                  extra_modules=plan.extra_modules)
    except ScError as exc:
        return {"node": name, "ok": False, "reason": f"ami: {exc.one_line()}", "items": []}
    return {"node": name, "ok": report.ok, "reason": report.reason,
            "items": [asdict(i) for i in report.items]}


@router.post("/trunks/{name}/test")
async def test_trunk_(name: str, body: TrunkTestIn, request: Request,
                      who: Principal = Depends(require(Permission.TELECOM_READ))) -> dict:
    """``trunk test``: qualify (OPTIONS, RTT), registration, and a test call to ``number``
    when given (its number masked in the answer). Audited."""
    with request.app.state.db.session() as s:
        plan = plan_trunk_test(s, name, body.node, number=body.number, audio=body.prompt,
                               caller_id=body.caller_id, ring_timeout_s=body.ring_timeout_s)
        record_audit(s, "trunk-test", None, {"trunk": name, "call": bool(body.number)},
                     who.actor)
    try:
        report = await test_trunk(plan)
    except ScError as exc:
        return {"trunk": name, "node": plan.node.name, "ok": False,
                "lines": [{"step": "ami", "ok": False, "detail": exc.one_line()}]}
    return {"trunk": name, "node": report.node, "ok": report.ok,
            "lines": [{"step": ln.step, "ok": ln.ok, "detail": ln.detail}
                      for ln in report.lines]}
