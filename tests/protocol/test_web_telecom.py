"""A node's live state, ``node check`` and ``trunk test`` through HTTP, against a node whose
AMI refuses connections: the answer says so in one line instead of failing the request."""
from __future__ import annotations

import socket

from sqlalchemy import select

from sc_asterisk.db.models_privacy import AuditEntry
from sc_asterisk.telecom.nodes import NodeSpec, add_node


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]          # nothing listens once closed


def dead_node(env) -> None:
    with env.db.session() as s:
        add_node(s, env.home / "secrets", NodeSpec(
            "dead", ami_host="127.0.0.1", ami_port=closed_port(), ami_secret="s3cret-s3cret",
            agi_host="127.0.0.1", sounds_dir=str(env.home / "sounds"),
            asterisk_sounds_dir="/var/lib/asterisk/sounds/sc", config_dir=str(env.home)))


def test_a_node_that_cannot_be_reached_is_down_with_the_reason(web):
    dead_node(web)
    client = web.client("engineer")
    state = client.get("/api/v1/nodes/dead/state").json()
    assert state["ami_up"] is False and state["channels"] is None
    assert state["error"] and "\n" not in state["error"]
    assert client.get("/api/v1/nodes/dead/state").json() == state      # one answer per 5 s
    check = client.post("/api/v1/nodes/dead/check?timeout=1").json()
    assert check["ok"] is False and check["reason"].startswith("ami: ")
    with web.db.session() as s:
        assert ("node-check", "web:engineer") in set(s.execute(
            select(AuditEntry.action, AuditEntry.actor)).all())


def test_unknown_nodes_and_trunks_are_one_line_404s(web):
    client = web.client("engineer")
    for method, path in (("GET", "/api/v1/nodes/nope/state"), ("POST", "/api/v1/nodes/nope/check"),
                         ("GET", "/api/v1/trunks/nope/state")):
        response = client.request(method, path)
        assert response.status_code == 404, path
        assert "\n" not in response.json()["error"]
    response = client.post("/api/v1/trunks/nope/test", json={})
    assert response.status_code == 404 and "nope" in response.json()["error"]
    bad = client.post("/api/v1/trunks/nope/test", json={"ring_timeout_s": 1})
    assert bad.status_code == 422 and "ring_timeout_s" in bad.json()["error"]
