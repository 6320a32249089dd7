"""Nodes and trunks: list and show, as the CLI describes them (secrets masked, never read)."""
from __future__ import annotations

import re
from typing import Callable

from fastapi import APIRouter, Depends, Query, Request

from ...telecom import nodes, trunks
from ...users.roles import Permission
from ..auth import Principal, require
from ..schemas import Page

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
