"""sc-trunks.conf: what the renderer writes for a trunk, read back by an independent parser."""
import dataclasses

import pytest
from asterisk.config import Config  # pyst2's parser

from sc_asterisk.asterisk_conf.trunks import (MARKER, TrunkConf, check_host, render_trunks,
                                              split_host_port)
from sc_asterisk.asterisk_conf.transports import NetConf
from sc_asterisk.errors import ConfigError


def sections(tmp_path, text):
    """[(name, {key: value})] in file order: names repeat (endpoint and aor share one)."""
    path = tmp_path / "sc-trunks.conf"
    path.write_text(text)
    return [(c.name, {v.name.strip(): v.value.strip() for v in c.items})
            for c in Config(str(path)).categories]


def by_type(secs, name, kind):
    [found] = [body for n, body in secs if n == name and body.get("type") == kind]
    return found


ACME = TrunkConf("acme", "203.0.113.10", port=5080, username="0123", secret="p@ss/word!",
                 register=True, match=("203.0.113.0/24", "198.51.100.7"), codecs=("alaw",),
                 caller_id_policy="pai")


def test_registering_trunk_renders_all_five_objects(tmp_path):
    text = render_trunks([ACME], node="paris-1")
    assert text.startswith(MARKER)
    secs = sections(tmp_path, text)
    endpoint = by_type(secs, "acme", "endpoint")
    assert endpoint["aors"] == "acme" and endpoint["outbound_auth"] == "acme-auth"
    assert endpoint["allow"] == "alaw" and endpoint["context"] == "sc-callback"
    assert endpoint["send_pai"] == "yes" and endpoint["from_user"] == "0123"
    assert by_type(secs, "acme", "aor")["contact"] == "sip:203.0.113.10:5080"
    auth = by_type(secs, "acme-auth", "auth")
    assert auth["username"] == "0123" and auth["password"] == "p@ss/word!"
    reg = by_type(secs, "acme-reg", "registration")
    assert reg["server_uri"] == "sip:203.0.113.10:5080"
    assert reg["client_uri"] == "sip:0123@203.0.113.10:5080" and reg["outbound_auth"] == "acme-auth"
    ident = by_type(secs, "acme-identify", "identify")
    assert ident["match"] == "203.0.113.0/24,198.51.100.7/32" and ident["endpoint"] == "acme"


def test_plain_trunk_has_no_auth_nor_registration(tmp_path):
    secs = sections(tmp_path, render_trunks([TrunkConf("plain", "sip.example.net")]))
    assert {body["type"] for _n, body in secs} == {"endpoint", "aor", "identify"}
    assert by_type(secs, "plain-identify", "identify")["match"] == "sip.example.net"
    assert by_type(secs, "plain", "endpoint")["send_pai"] == "no"


def test_tls_and_ipv6_uris(tmp_path):
    t = TrunkConf("v6", "2001:db8::1", port=5061, transport="tls", qualify_frequency=0)
    text = render_trunks([t], net=NetConf(tls_cert_file="/c.pem", tls_key_file="/k.pem"))
    # An unescaped ';' starts a comment in Asterisk config: the parameter must be written '\;'
    # (the lab test checks that Asterisk reads it back as ';transport=tcp').
    assert "contact = sip:[2001:db8::1]:5061\\;transport=tls\n" in text
    assert by_type(sections(tmp_path, text), "v6", "aor")["qualify_frequency"] == "0"


def test_no_trunk_renders_only_the_header(tmp_path):
    text = render_trunks([])
    assert text.startswith(MARKER) and sections(tmp_path, text) == []


@pytest.mark.parametrize("field,value", [
    ("codecs", ("alaw", "foo")), ("codecs", ()), ("codecs", ("alaw", "alaw")),
    ("host", "bad_host!"), ("host", "999.1.1.1.1"), ("host", ""), ("port", 0), ("port", 70000),
    ("match", ("10.0.0.0/33",)), ("match", ("not-a-cidr",)), ("transport", "sctp"),
    ("caller_id_policy", "spoof"), ("name", "-x"), ("name", "a" * 41),
])
def test_bad_values_are_refused(field, value):
    with pytest.raises(ConfigError):
        render_trunks([dataclasses.replace(ACME, **{field: value})])


INJECTIONS = ["x\n", "x\n[evil]", "x;comment", "x[y", "x]y", 'x"y', "x'y", "x y", "x\r\ny", "x\\y",
              "x\0y", "x$y"]


@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize("field", ["name", "host", "username", "secret", "transport", "context",
                                   "caller_id_policy", "match", "codecs"])
def test_injection_in_every_field_is_refused(field, payload):
    value = (payload,) if field in ("match", "codecs") else payload
    with pytest.raises(ConfigError) as err:
        render_trunks([dataclasses.replace(ACME, **{field: value})])
    if field == "secret":
        assert payload not in err.value.one_line()   # a secret is never echoed


def test_duplicate_names_are_refused_case_insensitively():
    with pytest.raises(ConfigError, match="duplicate"):
        render_trunks([ACME, dataclasses.replace(ACME, name="ACME")])


def test_semantic_rules():
    with pytest.raises(ConfigError, match="no username"):
        render_trunks([TrunkConf("r", "192.0.2.1", register=True)])
    with pytest.raises(ConfigError, match="no secret"):
        render_trunks([TrunkConf("r", "192.0.2.1", username="u")])
    with pytest.raises(ConfigError, match="no username"):
        render_trunks([TrunkConf("r", "192.0.2.1", secret="s")])
    with pytest.raises(ConfigError, match="account"):
        render_trunks([TrunkConf("r", "192.0.2.1", caller_id_policy="pai")])


def test_host_port_parsing():
    assert split_host_port("Sip.Example.NET:5080") == ("sip.example.net", 5080)
    assert split_host_port("192.0.2.1") == ("192.0.2.1", 5060)
    assert split_host_port("[2001:db8::1]:5061") == ("2001:db8::1", 5061)
    assert split_host_port("2001:db8::1") == ("2001:db8::1", 5060)
    for bad in ("host:port", "1.2.3.4:0", "[2001:db8::1", "a:b:c:d:zz"):
        with pytest.raises(ConfigError):
            split_host_port(bad)
    assert check_host("sip.example.net.") == "sip.example.net"
