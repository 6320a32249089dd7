import pytest
from asterisk.config import Config  # pyst2's parser: an independent reader of what we render

from sc_asterisk.asterisk_conf import NodeConfig, SipEndpoint, render, write
from sc_asterisk.asterisk_conf.render import (AMI_EVENTS, AMI_READ_CLASSES,
                                               AMI_WRITE_CLASSES)
from sc_asterisk.errors import ConfigError


def node(**kw):
    base = dict(node="n1", etc_dir="/srv/n1/etc", run_dir="/srv/n1/run", log_dir="/srv/n1/log",
                lib_dir="/srv/n1/lib", spool_dir="/srv/n1/spool", ami_secret="s3cr3t",
                ami_port=15038, sip_port=15060, agi_port=14573, sounds_dir="/srv/n1/sounds",
                agi_token="0123456789abcdef0123456789abcdef",
                endpoints=(SipEndpoint("lab-callees", "sip:127.0.0.1:15070", "127.0.0.1"),))
    base.update(kw)
    return NodeConfig(**base)


def parse(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return {c.name: {v.name.strip(): v.value.strip() for v in c.items}
            for c in Config(str(path)).categories}


def test_manager_grants_exactly_the_classes_the_controller_uses(tmp_path):
    conf = parse(tmp_path, "manager.conf", render(node())["manager.conf"])
    user = conf["sc-controller"]
    assert set(user["read"].split(",")) == {"call", "cdr", "system"} == set(AMI_READ_CLASSES)
    assert set(user["write"].split(",")) == {"call", "command", "originate", "reporting",
                                             "system"} == set(AMI_WRITE_CLASSES)
    assert user["deny"] == "0.0.0.0/0.0.0.0" and user["permit"] == "127.0.0.1/255.255.255.255"
    assert conf["general"]["bindaddr"] == "127.0.0.1" and conf["general"]["port"] == "15038"


def test_manager_sends_only_the_events_the_controller_reads(tmp_path):
    """One structured filter per event read (dialer/calls.py, the link, the benchmarks'
    Cdr baseline); Asterisk drops the rest before sending them."""
    user = parse(tmp_path, "manager.conf", render(node())["manager.conf"])["sc-controller"]
    filters = {name: value for name, value in user.items() if name.startswith("eventfilter")}
    assert filters == {f"eventfilter(action(include),name({name}))": "" for name in AMI_EVENTS}
    assert set(AMI_EVENTS) == {"OriginateResponse", "Newstate", "Hangup", "HangupRequest",
                               "FullyBooted", "Shutdown", "Cdr"}


def test_pjsip_endpoint_and_transport(tmp_path):
    text = render(node())["pjsip.conf"]
    assert "bind = 127.0.0.1:15060" in text
    assert "contact = sip:127.0.0.1:15070" in text and "dtmf_mode = rfc4733" in text


def test_dialplan_hands_calls_to_fastagi_with_sounds_dir():
    files = render(node())
    assert "SC_AGI = agi://127.0.0.1:14573/0123456789abcdef0123456789abcdef\n" \
        in files["extensions.conf"]
    assert "AGI(${SC_AGI}/callback,${SC_SOUNDS},${SC_NODE})" in files["sc-dialplan.conf"]
    assert "SC_SOUNDS = /srv/n1/sounds" in files["extensions.conf"]
    assert "AGI(${SC_AGI}/broadcast,${SC_SOUNDS},${SC_CAMPAIGN})" in files["sc-dialplan.conf"]
    assert '#include "/srv/n1/etc/sc-dialplan.conf"' in files["extensions.conf"]


def test_a_node_is_never_rendered_without_the_fastagi_token():
    with pytest.raises(ConfigError) as err:
        render(node(agi_token=""))
    assert "FastAGI token" in str(err.value) and err.value.fix


def test_asterisk_conf_points_every_directory_at_the_node(tmp_path):
    conf = parse(tmp_path, "asterisk.conf", render(node())["asterisk.conf"])
    dirs = conf["directories"]
    assert dirs["astetcdir"] == "/srv/n1/etc" and dirs["astrundir"] == "/srv/n1/run"


def test_only_listed_modules_load():
    text = render(node())["modules.conf"]
    assert "autoload = no" in text and "load => res_agi.so" in text


@pytest.mark.parametrize("field,value", [
    ("ami_secret", "abc\n[evil]"), ("ami_secret", "a;b"), ("sounds_dir", "/x y"),
    ("agi_host", "1.2.3.4\nexten => s,1,System(rm)"), ("ami_user", "a]b"),
])
def test_injection_is_refused_and_nothing_written(tmp_path, field, value):
    with pytest.raises(ConfigError):
        write(node(**{field: value}), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_endpoint_injection_is_refused():
    with pytest.raises(ConfigError):
        render(node(endpoints=(SipEndpoint("x\n[y]", "sip:1.2.3.4", "1.2.3.4"),)))


def test_write_is_private(tmp_path):
    paths = write(node(), tmp_path / "etc")
    assert {p.name for p in paths} >= {"manager.conf", "pjsip.conf", "extensions.conf"}
    assert oct((tmp_path / "etc" / "manager.conf").stat().st_mode & 0o777) == "0o640"


def test_every_controller_of_the_installation_is_in_the_globals_with_the_token():
    """A call whose controller is lost mid-call is resumed by another: the dialplan finds them
    all in SC_AGI_ALL, each URL carrying the installation's token (agi/auth.py refuses any
    session without it)."""
    text = render(node(agi_fallbacks=("10.0.0.3:4574", "ctl-b.example:4573")))["extensions.conf"]
    token = "0123456789abcdef0123456789abcdef"
    assert (f"SC_AGI_ALL = agi://127.0.0.1:14573/{token}&agi://10.0.0.3:4574/{token}"
            f"&agi://ctl-b.example:4573/{token}\n") in text
    assert "SC_RESUME_MS = 3000\n" in text
    # One controller: the list is that one (a restarted controller resumes its own calls).
    assert f"SC_AGI_ALL = agi://127.0.0.1:14573/{token}\n" in render(node())["extensions.conf"]


@pytest.mark.parametrize("address", ["10.0.0.3", "10.0.0.3:0", "10.0.0.3:x", ":4573",
                                     "a b:4573", "10.0.0.3&evil:4573", "h\n[x]:4573"])
def test_a_bad_controller_address_is_refused(address):
    with pytest.raises(ConfigError) as err:
        render(node(agi_fallbacks=(address,)))
    assert err.value.fix and "\n" not in str(err.value)


def test_the_modules_the_resumption_needs_are_loaded():
    text = render(node())["modules.conf"]
    for module in ("app_stack", "func_cut", "app_controlplayback", "app_celgenuserevent",
                   "app_read"):
        assert f"load => {module}.so" in text
