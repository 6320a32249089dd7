"""NAT and TLS/SRTP in what the renderer writes (read back by pyst2's parser), and the node
options that feed them: TLS files checked for existence and mode."""
import os

import pytest
from asterisk.config import Config  # pyst2's parser

from sc_asterisk.asterisk_conf import NodeConfig, render
from sc_asterisk.asterisk_conf.transports import NetConf, TLS_TRANSPORT, check_tls_files
from sc_asterisk.asterisk_conf.trunks import TrunkConf, render_trunks
from sc_asterisk.errors import ConfigError

NAT = dict(public_address="198.51.100.7", local_nets=("10.0.0.0/8", "192.168.1.0/24"))


def read(tmp_path, text, name="x.conf"):
    """[(section, [(key, value)...])] in file order, repeated keys kept."""
    path = tmp_path / name
    # pyst2 cannot read '#' directives (#tryinclude): they are left out
    path.write_text("\n".join(line for line in text.split("\n") if not line.startswith("#")))
    return [(c.name, [(v.name.strip(), v.value.strip()) for v in c.items])
            for c in Config(str(path)).categories]


def section(secs, name, kind):
    [body] = [b for n, b in secs if n == name and ("type", kind) in b]
    return body


def tls_files(tmp_path, key_mode=0o640):
    cert, key = tmp_path / "node.crt", tmp_path / "node.key"
    cert.write_text("cert")
    key.write_text("key")
    os.chmod(key, key_mode)
    return str(cert), str(key)


def node_config(**kw):
    return NodeConfig(node="n1", etc_dir="/etc/asterisk", run_dir="/run", log_dir="/log",
                      lib_dir="/lib", spool_dir="/spool", ami_secret="s3cret", agi_token="t0k",
                      **kw)


def test_the_full_udp_transport_carries_the_public_address_and_local_nets(tmp_path):
    transport = section(read(tmp_path, render(node_config(**NAT))["pjsip.conf"]),
                        "transport-udp", "transport")
    assert ("external_media_address", "198.51.100.7") in transport
    assert ("external_signaling_address", "198.51.100.7") in transport
    assert [v for k, v in transport if k == "local_net"] == ["10.0.0.0/8", "192.168.1.0/24"]


def test_without_a_public_address_no_nat_line_is_written(tmp_path):
    transport = section(read(tmp_path, render(node_config())["pjsip.conf"]),
                        "transport-udp", "transport")
    assert not [k for k, _ in transport if k.startswith(("external_", "local_net"))]


@pytest.mark.parametrize("kw,match", [(dict(public_address="a b"), "public address"),
                                      (dict(public_address="198.51.100.7",
                                            local_nets=("10.0.0.0/33",)), "local network")])
def test_bad_nat_values_are_refused(kw, match):
    with pytest.raises(ConfigError, match=match):
        render(node_config(**kw))


def test_a_tls_trunk_brings_the_tls_transport_with_nat_and_srtp_on_its_endpoint(tmp_path):
    net = NetConf(tls_cert_file="/etc/asterisk/keys/n1.crt",
                  tls_key_file="/etc/asterisk/keys/n1.key", tls_port=5061, **NAT)
    text = render_trunks([TrunkConf("secure", "sip.example.net", port=5061, transport="tls",
                                    srtp=True), TrunkConf("plain", "192.0.2.1")],
                         node="n1", net=net)
    secs = read(tmp_path, text)
    transport = section(secs, TLS_TRANSPORT, "transport")
    assert ("protocol", "tls") in transport and ("bind", "0.0.0.0:5061") in transport
    assert ("cert_file", "/etc/asterisk/keys/n1.crt") in transport
    assert ("priv_key_file", "/etc/asterisk/keys/n1.key") in transport
    assert ("method", "tlsv1_2") in transport       # pjproject's default would be TLS 1.0
    assert ("verify_server", "no") in transport      # no CA given: said so, not left implicit
    assert ("external_signaling_address", "198.51.100.7") in transport
    assert [v for k, v in transport if k == "local_net"] == ["10.0.0.0/8", "192.168.1.0/24"]
    secure = dict(section(secs, "secure", "endpoint"))
    assert secure["transport"] == TLS_TRANSPORT and secure["media_encryption"] == "sdes"
    plain = dict(section(secs, "plain", "endpoint"))
    assert "transport" not in plain and "media_encryption" not in plain


def test_udp_trunks_alone_render_no_tls_transport(tmp_path):
    secs = read(tmp_path, render_trunks([TrunkConf("plain", "192.0.2.1")], net=NetConf(**NAT)))
    assert not [n for n, _ in secs if n == TLS_TRANSPORT]


def test_a_tls_trunk_on_a_node_without_certificate_is_refused_naming_the_fix():
    with pytest.raises(ConfigError) as err:
        render_trunks([TrunkConf("secure", "sip.example.net", transport="tls")], node="n1")
    assert "node edit n1 --tls-cert FILE --tls-key FILE" in err.value.one_line()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_srtp_without_tls_is_refused_since_sdes_keys_would_travel_in_clear(transport):
    with pytest.raises(ConfigError, match="SRTP.*needs TLS"):
        render_trunks([TrunkConf("s", "192.0.2.1", transport=transport, srtp=True)])


def test_tls_files_must_exist_and_the_key_stay_private(tmp_path):
    cert, key = tls_files(tmp_path)
    assert check_tls_files(cert, key) == (cert, key, None)
    assert check_tls_files(cert, key, cert) == (cert, key, cert)
    assert check_tls_files(None, None) == (None, None, None)
    with pytest.raises(ConfigError, match="CA file without"):
        check_tls_files(None, None, cert)
    with pytest.raises(ConfigError, match="CA file .* does not exist"):
        check_tls_files(cert, key, str(tmp_path / "missing-ca.pem"))
    with pytest.raises(ConfigError, match="both"):
        check_tls_files(cert, None)
    with pytest.raises(ConfigError, match="does not exist"):
        check_tls_files(cert, str(tmp_path / "missing.key"))
    os.chmod(key, 0o644)
    with pytest.raises(ConfigError) as err:
        check_tls_files(cert, key)
    assert "mode 0644" in str(err.value) and "chmod 0640" in err.value.fix
    with pytest.raises(ConfigError, match="not a regular file"):
        check_tls_files(str(tmp_path), key)


def test_a_ca_file_makes_the_tls_transport_verify_carriers(tmp_path):
    net = NetConf(tls_cert_file="/k/n1.crt", tls_key_file="/k/n1.key", tls_ca_file="/k/ca.pem")
    text = render_trunks([TrunkConf("secure", "sip.example.net", transport="tls")], net=net)
    transport = section(read(tmp_path, text), TLS_TRANSPORT, "transport")
    assert ("ca_list_file", "/k/ca.pem") in transport and ("verify_server", "yes") in transport
