"""`node check`'s NAT item: Asterisk 22's `pjsip show transport(s)` text (recorded from the lab)
parsed, and each transport's external addresses compared with the node's public address."""
from sc_asterisk.telecom.pjsip_status import nat_mismatches, parse_parameters, parse_transports

TRANSPORTS = (
    "\nTransport:  <TransportId........>  <Type>  <cos>  <tos>  <BindAddress....................>\n"
    "==========================================================================================\n\n"
    "Transport:  transport-udp             udp      0      0  127.0.0.1:45060\n"
    "Transport:  sc-transport-tls          tls      0      0  127.0.0.1:45061\n\n"
    "Objects found: 2\n\n")


def transport(external: str = "") -> str:
    return ("\n ParameterName               : ParameterValue\n"
            " =============================================\n"
            " allow_reload                : false\n"
            " bind                        : 127.0.0.1:45060\n"
            f" external_media_address      : {external}\n"
            f" external_signaling_address  : {external}\n"
            " external_signaling_port     : 0\n"
            " local_net                   : \n"
            " protocol                    : udp\n")


def test_transport_names_and_parameters_are_parsed():
    assert parse_transports(TRANSPORTS) == ["transport-udp", "sc-transport-tls"]
    params = parse_parameters(transport("198.51.100.7"))
    assert params["external_media_address"] == ["198.51.100.7"]
    assert params["bind"] == ["127.0.0.1:45060"] and params["local_net"] == [""]
    assert "parametername" not in params


def test_every_transport_must_announce_the_public_address():
    same = {"transport-udp": parse_parameters(transport("198.51.100.7")),
            "sc-transport-tls": parse_parameters(transport("198.51.100.7"))}
    assert nat_mismatches(same, "198.51.100.7") == []
    mixed = {"transport-udp": parse_parameters(transport("")),
             "sc-transport-tls": parse_parameters(transport("203.0.113.9"))}
    assert nat_mismatches(mixed, "198.51.100.7") == [
        "transport-udp has no external address",
        "sc-transport-tls has external address 203.0.113.9, the node says 198.51.100.7"]


def test_a_node_without_public_address_flags_transports_that_have_one():
    found = {"transport-udp": parse_parameters(transport("")),
             "sc-transport-tls": parse_parameters(transport("203.0.113.9"))}
    assert nat_mismatches(found, None) == [
        "sc-transport-tls has external address 203.0.113.9, the node has no public address"]
    assert nat_mismatches({"transport-udp": parse_parameters(transport(""))}, None) == []
