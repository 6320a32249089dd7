"""The channel variables the controller and the dialplan share cannot drift apart: every SC_
name the dialplan (and the rendered [globals]) uses is a constant of sc_asterisk.chanvars, and
every constant is used there."""
import re

from sc_asterisk import chanvars
from sc_asterisk.asterisk_conf.render import TEMPLATES
from sc_asterisk.paths import DIALPLAN_DIR

SC_NAME = re.compile(r"\bSC_[A-Z0-9_]+\b")


def names_in(paths) -> set[str]:
    return {name for path in paths for name in SC_NAME.findall(path.read_text())}


def test_dialplan_and_constants_name_the_same_variables():
    dialplan = names_in(DIALPLAN_DIR.glob("*.conf")) | names_in(TEMPLATES.rglob("*.conf"))
    constants = {value for name, value in vars(chanvars).items() if name.startswith("SC_")}
    assert dialplan == constants
    assert all(getattr(chanvars, name) == name for name in constants)   # the name is the value


def test_the_globals_template_sets_the_node_wide_ones():
    assert names_in([TEMPLATES / "parts" / "globals.conf"]) == {
        chanvars.SC_AGI, chanvars.SC_SOUNDS, chanvars.SC_NODE, chanvars.SC_AGI_ALL,
        chanvars.SC_RESUME_MS}


def test_amd_gets_each_argument_from_its_own_variable_in_order():
    """An Originate Variable: value cannot carry a comma (Asterisk splits on it): the dialplan
    rebuilds AMD()'s argument list from one variable per argument, in AMD()'s order."""
    text = (DIALPLAN_DIR / "sc-dialplan.conf").read_text()
    call = re.search(r"n,AMD\(([^)]*)\)", text).group(1)
    assert call == ",".join(f"${{{name}}}" for name in chanvars.AMD_ARGS)
    assert len(chanvars.AMD_ARGS) == 9
