"""Channel variables shared by the controller and the dialplan: one name, one place.

The ``SC_*`` names are read by ``dialplan/sc-dialplan.conf``; ``SC_AGI`` and ``SC_SOUNDS`` are
set node-wide in the rendered ``[globals]``, the rest by each Originate
(``tests/unit/test_chanvars.py`` checks that the two lists cannot drift apart). The ``AMD*``
names are set by Asterisk's AMD() application and read back by the call flow.

Example: ``await ami.originate(..., variables={SC_CAMPAIGN: "7"})``.
"""

SC_AGI = "SC_AGI"                # the FastAGI address of the controller that dialed the call
SC_SOUNDS = "SC_SOUNDS"          # where the controller publishes prompts, as the node sees it
SC_CAMPAIGN = "SC_CAMPAIGN"      # the campaign id, passed to the broadcast script
SC_AMD = "SC_AMD"                # "1": run answering-machine detection before the script
SC_AMD_ARGS = "SC_AMD_ARGS"      # AMD()'s own arguments; empty: the node's amd.conf

AMDSTATUS = "AMDSTATUS"          # MACHINE, HUMAN, NOTSURE or HANGUP
AMDCAUSE = "AMDCAUSE"            # why, e.g. LONGGREETING-2100-1500
