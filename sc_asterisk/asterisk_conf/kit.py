"""What an engineer adds to an *existing* Asterisk: four include files and four lines, and the
node's CEL configuration (the call facts a restarted controller settles a dead one's calls from).

The pieces are rendered by the same templates as the lab's complete configuration
(``render_parts``), so the manager user and the globals an operator includes are byte for byte
what the lab tests run.
"""
from __future__ import annotations

from ..paths import DIALPLAN_DIR
from .render import NodeConfig, render, render_parts
from .trunks import MARKER, TRUNKS_FILE, render_trunks

MANAGER_FILE = "sc-manager.conf"
GLOBALS_FILE = "sc-globals.conf"
DIALPLAN_FILE = "sc-dialplan.conf"
CEL_FILES = ("cel.conf", "cel_custom.conf")

INSTALL = f"""\
To connect an existing Asterisk to sc-asterisk, copy these files into its configuration
directory (usually /etc/asterisk) and add four lines:

  manager.conf     at the end:                      #include {MANAGER_FILE}
                   and in [general]: enabled = yes, a bindaddr the controller reaches
  extensions.conf  inside the [globals] section:    #include {GLOBALS_FILE}
                   at the end:                      #include {DIALPLAN_FILE}
  pjsip.conf       at the end:                      #tryinclude {TRUNKS_FILE}

cel.conf and cel_custom.conf log each call's answer, hangup and the dialplan's events to
/var/log/asterisk/sc-cel.json: copy them too (a node that already has a cel.conf: enable = yes and add
ANSWER,HANGUP,USER_DEFINED to its events; cel_custom.conf: add the [.../sc-cel.json] section),
make that file readable by the controller (same host, or a shared mount) and give its path:
`sc-asterisk node edit NODE --cel-file PATH`. Without it, a call whose controller died and that
ended before another controller adopted it is `unknown` (never redialed).

then run `core reload` on the Asterisk console (`module reload cel`) and `sc-asterisk node
check NODE` here.
The modules the project needs (node check verifies them): res_pjsip, chan_pjsip,
res_pjsip_outbound_registration, res_agi, app_amd, app_playback, pbx_config, func_logic,
format_wav, codec_alaw, codec_ulaw; for calls that outlive their controller: app_stack,
func_cut, func_strings, app_controlplayback, app_celgenuserevent, and CEL (cel.conf and
cel_custom.conf above, res_cdrel_custom, cel_custom); for a trunk added with --srtp: res_srtp.
{MANAGER_FILE} and {TRUNKS_FILE} hold secrets: keep them mode 0640, group asterisk.
"""


def render_kit(cfg: NodeConfig, trunks_text: str | None = None) -> dict[str, str]:
    """``{file name: text}`` of the include files for an existing Asterisk. Raises ConfigError
    (nothing rendered) on an unsafe value.

    Example: ``render_kit(cfg, render_trunks(trunks, node="paris-1"))["sc-manager.conf"]``
    """
    full = render(cfg)  # every value goes through the full renderer's checks first
    parts = render_parts(cfg)
    head = f"{MARKER} for node {cfg.node}"
    dialplan = (DIALPLAN_DIR / DIALPLAN_FILE).read_text()
    return {
        MANAGER_FILE: (f"{head}: the controller's manager user.\n"
                       f"; Include it at the end of manager.conf:  #include {MANAGER_FILE}\n"
                       "; It grants only the classes the controller uses, from its address only.\n"
                       + parts["manager_user"]),
        GLOBALS_FILE: (f"{head}: the dialplan globals of sc-dialplan.conf.\n"
                       "; Include it INSIDE the [globals] section of extensions.conf:\n"
                       f";   [globals]\n;   #include {GLOBALS_FILE}\n"
                       + parts["globals"]),
        DIALPLAN_FILE: (f"{head}: the broadcast and callback contexts.\n"
                        f"; Include it at the end of extensions.conf:  #include {DIALPLAN_FILE}\n"
                        + dialplan),
        TRUNKS_FILE: trunks_text if trunks_text is not None else render_trunks([], node=cfg.node),
        **{name: full[name] for name in CEL_FILES},
    }
