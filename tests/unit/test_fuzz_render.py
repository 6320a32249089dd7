"""Random strings in every field of the config renderers (node files and carrier trunks): either a
ConfigError, or files that an independent parser (pyst2's ``asterisk.config.Config``) reads back
with exactly the structure of a reference rendering and the value in its intended slot: no
extra section, no extra line, no value cut or spilled into a comment.

How: every field first gets a unique inert sentinel ("zq3zq"); the reference is pyst2's reading
of that rendering. A rendering with a random value *v* must read back as the reference with the
sentinel replaced by *v* inside the parsed names, values and comments.
"""
import dataclasses
import re

import pytest
from asterisk.config import Config, ParseError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sc_asterisk.asterisk_conf import NodeConfig, SipEndpoint, render
from sc_asterisk.asterisk_conf.trunks import TrunkConf, render_trunks, validate
from sc_asterisk.errors import ConfigError

PROP = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:@/+,=-"
HOSTILE = ["x\n[evil]", "a;b", "a]b", "[x", " x", "x ", "x\r\nexten => s,1,System(id)",
           "${SHELL(id)}", "$x", "x\\", "\"x\"", "x#include y", "x\x00y", "é", "\u2028", ""]
VALUES = st.one_of(st.text(alphabet=SAFE, max_size=12), st.text(max_size=12),
                   st.sampled_from(HOSTILE))


def sentinel(i: int) -> str:
    return f"zq{i}zq"


def read_back(tmp_path, name: str, text: str) -> list[tuple]:
    """pyst2's view of one file: every line as a tuple; ``#`` directives kept aside (pyst2
    cannot read them) in place, so line positions still count."""
    directives = []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.strip().startswith("#"):
            directives.append((i, line))
            lines[i] = ""
    path = tmp_path / name
    path.write_text("\n".join(lines), encoding="utf-8")
    out = []
    for line in Config(str(path)).lines:
        kind = type(line).__name__
        if kind == "Category":
            out.append(("section", line.name, line.comment))
        elif kind == "Item":
            out.append(("item", line.name, line.style, line.value, line.comment))
        else:
            out.append(("line", line.line, line.comment))
    return normal(out) + [("directive", i, d) for i, d in directives]


def normal(structure: list[tuple]) -> list[tuple]:
    """What a reader sees, as Asterisk reads it: values and comments stripped (an empty value
    is ""), lines with nothing on them gone."""
    out = []
    for entry in structure:
        if entry[0] == "item":
            entry = (*entry[:3], entry[3].strip(), entry[4].rstrip())
        elif entry[0] in ("line", "section"):
            entry = (entry[0], entry[1], entry[2].rstrip())
            if entry == ("line", "", ""):
                continue
        out.append(entry)
    return out


def substituted(structure: list[tuple], old: str, new: str) -> list[tuple]:
    return normal([tuple(x.replace(old, new) if isinstance(x, str) else x for x in entry)
                   for entry in structure])


# -- node configuration ---------------------------------------------------------------------
# agi_fallbacks is a list of HOST:PORT: its own tests are in test_render.py; the NAT fields
# (an address, a list of CIDRs) are parsed, not copied: test_transports_render.py
NODE_FIELDS = [f.name for f in dataclasses.fields(NodeConfig)
               if f.name not in ("endpoints", "cdr_events", "agi_fallbacks", "public_address",
                                 "local_nets")]
ENDPOINT_FIELDS = [f.name for f in dataclasses.fields(SipEndpoint)]


def sentinel_config() -> tuple[dict, dict]:
    node = {name: sentinel(i) for i, name in enumerate(NODE_FIELDS)}
    endpoint = {name: sentinel(100 + i) for i, name in enumerate(ENDPOINT_FIELDS)}
    return node, endpoint


def node_config(node: dict, endpoint: dict) -> NodeConfig:
    return NodeConfig(**node, endpoints=(SipEndpoint(**endpoint),))


def sanitized_comment(value: str) -> str:
    # What render.py does to an endpoint comment; anything else is a value.
    return re.sub(r"[\r\n;\[\]]", " ", value)


@PROP
@given(field=st.sampled_from(NODE_FIELDS + [f"endpoint.{f}" for f in ENDPOINT_FIELDS]),
       value=VALUES)
@example(field="ami_secret", value="abc\n[evil]")
@example(field="endpoint.comment", value="x\n[evil]\ntype = endpoint")
def test_node_renderer_refuses_or_reads_back_exactly(tmp_path, field, value):
    node, endpoint = sentinel_config()
    reference = {name: read_back(tmp_path, name, text)
                 for name, text in render(node_config(node, endpoint)).items()}
    target = endpoint if field.startswith("endpoint.") else node
    key = field.removeprefix("endpoint.")
    old = target[key]
    target[key] = value
    try:
        files = render(node_config(node, endpoint))
    except ConfigError as exc:
        assert exc.fix and "\n" not in str(exc)
        return
    new = sanitized_comment(value) if field == "endpoint.comment" else value
    assert set(files) == set(reference)
    for name, text in files.items():
        try:
            got = read_back(tmp_path, name, text)
        except ParseError as exc:
            pytest.fail(f"{field}={value!r} makes {name} unreadable: {exc}")
        assert got == substituted(reference[name], old, new), (field, value, name)


@pytest.mark.parametrize("field", ["ami_secret", "ami_user", "ami_bind"])
def test_an_empty_ami_secret_user_or_bind_address_is_refused(field):
    """``secret =`` empty lets a permitted address log in with no secret at all; ``bindaddr =``
    empty makes Asterisk listen on every interface (its default, 0.0.0.0)."""
    node, endpoint = sentinel_config()
    node[field] = ""
    with pytest.raises(ConfigError):
        render(node_config(node, endpoint))


# -- carrier trunks -----------------------------------------------------------------------------
TRUNK_SENTINELS = {"name": "zq0zq", "host": "zq1zq.example", "username": "zq2zq",
                   "secret": "zq3zq", "context": "zq4zq"}
TRUNK_VALUES = st.one_of(VALUES, st.text(alphabet="abcdefghij0123456789.-_", min_size=1,
                                         max_size=14),
                         st.sampled_from(["192.0.2.7", "Sip.Example.NET", "x-y", "a.b."]))


def trunk(**overrides) -> TrunkConf:
    values = dict(TRUNK_SENTINELS, **overrides)
    return TrunkConf(values["name"], values["host"], username=values["username"],
                     secret=values["secret"], register=True, context=values["context"],
                     caller_id_policy="pai", match=("192.0.2.0/24",))


@PROP
@given(field=st.sampled_from(sorted(TRUNK_SENTINELS)), value=TRUNK_VALUES)
@example(field="secret", value="s3cret;\n[evil]")
@example(field="host", value="Sip.Example.NET")
def test_trunk_renderer_refuses_or_reads_back_exactly(tmp_path, field, value):
    reference = read_back(tmp_path, "ref.conf", render_trunks([trunk()], node="n1"))
    try:
        checked = validate(trunk(**{field: value}))
        text = render_trunks([trunk(**{field: value})], node="n1")
    except ConfigError as exc:
        assert exc.fix and "\n" not in str(exc)
        if field == "secret":
            assert value not in str(exc) or value == ""   # a secret is never echoed
        return
    if ":" in checked.host:
        return      # IPv6 is bracketed in URIs only: covered by test_trunk_render.py
    got = read_back(tmp_path, "got.conf", text)
    assert got == substituted(reference, TRUNK_SENTINELS[field], getattr(checked, field))
