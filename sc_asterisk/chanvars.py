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

# Calls that outlive their controller (dialplan/sc-dialplan.conf, [sc-resume]).
SC_AGI_ALL = "SC_AGI_ALL"        # node-wide: every controller's FastAGI address, '&'-separated
SC_RESUME_MS = "SC_RESUME_MS"    # node-wide: how long the dialplan looks for a controller
SC_SCRIPT = "SC_SCRIPT"          # the script's files ('&'): the dialplan plays them itself when
#                                  no controller answers the call at all (set by the Originate)
SC_SEG = "SC_SEG"                # "index|start ms|path|later paths ('&')": set by [sc-segment]
SC_LOST_MS = "SC_LOST_MS"        # when (Asterisk's clock, epoch ms) the call flow was lost
SC_ALONE_MS = "SC_ALONE_MS"      # when the dialplan began playing the rest itself
SC_ALONE_END_MS = "SC_ALONE_END_MS"  # when that playback ended
SC_OPTOUT_DIGIT = "SC_OPTOUT_DIGIT"  # the campaign's opt-out digit: stops that playback
SC_OPTOUT_CONFIRM = "SC_OPTOUT_CONFIRM"  # the confirmation prompt played after it
SC_KEY = "SC_KEY"                # a digit pressed while the dialplan looks for a controller
# The dialplan subroutine the call flow runs (AGI GOSUB) before each segment: it sets SC_SEG
# with Asterisk's clock and logs it as a CEL user event.
SEGMENT_SUB = "sc-segment"
