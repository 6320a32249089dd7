"""Channel variables shared by the controller and the dialplan: one name, one place.

The ``SC_*`` names are read by ``dialplan/sc-dialplan.conf``; ``SC_AGI``, ``SC_SOUNDS`` and
``SC_NODE`` are set node-wide in the rendered ``[globals]``, the rest by each Originate
(``tests/unit/test_chanvars.py`` checks that the two lists cannot drift apart). The ``AMD*``
names are set by Asterisk's AMD() application and read back by the call flow.

Example: ``await ami.originate(..., variables={SC_CAMPAIGN: "7"})``.
"""

SC_AGI = "SC_AGI"                # the FastAGI address (and installation token) of the controller
SC_NODE = "SC_NODE"              # the node's name, sent with callback sessions
SC_SOUNDS = "SC_SOUNDS"          # where the controller publishes prompts, as the node sees it
SC_CAMPAIGN = "SC_CAMPAIGN"      # the campaign's script key (id and prompts' digest), for broadcast
SC_AMD = "SC_AMD"                # "1": run answering-machine detection before the script
# AMD()'s own arguments, one variable each: Asterisk splits an Originate ``Variable:`` value
# on commas, so "2500,1500" in one variable would reach AMD() as "2500". Unset: amd.conf's.
SC_AMD_ARG1 = "SC_AMD_ARG1"      # initialSilence
SC_AMD_ARG2 = "SC_AMD_ARG2"      # greeting
SC_AMD_ARG3 = "SC_AMD_ARG3"      # afterGreetingSilence
SC_AMD_ARG4 = "SC_AMD_ARG4"      # totalAnalysisTime
SC_AMD_ARG5 = "SC_AMD_ARG5"      # minimumWordLength
SC_AMD_ARG6 = "SC_AMD_ARG6"      # betweenWordsSilence
SC_AMD_ARG7 = "SC_AMD_ARG7"      # maximumNumberOfWords
SC_AMD_ARG8 = "SC_AMD_ARG8"      # silenceThreshold
SC_AMD_ARG9 = "SC_AMD_ARG9"      # maximumWordLength
AMD_ARGS = (SC_AMD_ARG1, SC_AMD_ARG2, SC_AMD_ARG3, SC_AMD_ARG4, SC_AMD_ARG5, SC_AMD_ARG6,
            SC_AMD_ARG7, SC_AMD_ARG8, SC_AMD_ARG9)   # in AMD()'s order

AMDSTATUS = "AMDSTATUS"          # MACHINE, HUMAN, NOTSURE or HANGUP
AMDCAUSE = "AMDCAUSE"            # why, e.g. LONGGREETING-2100-1500
