"""Answering-machine detection policy: what a campaign does when Asterisk's AMD() says MACHINE.

A campaign's ``amd_policy`` is ``POLICY`` or ``POLICY:ARGS`` where POLICY is
- ``play``: play the script anyway (AMD is only recorded);
- ``voicemail``: play the campaign's ``voicemail`` segment instead (or the script if none);
- ``hangup``: hang up at once; the outcome is ``machine``, for the retry rules;
and ARGS are AMD()'s own comma-separated arguments (initialSilence, greeting,
afterGreetingSilence, totalAnalysisTime, minimumWordLength, betweenWordsSilence,
maximumNumberOfWords, silenceThreshold, maximumWordLength); empty: the node's amd.conf.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError

POLICIES = ("play", "voicemail", "hangup")
_ARGS = re.compile(r"^[0-9]*(,[0-9]*){0,8}$")


@dataclass(frozen=True)
class AmdPolicy:
    policy: str
    args: str = ""


def parse_amd(text: str | None) -> AmdPolicy | None:
    """``None`` or '' means no detection.

    >>> parse_amd("hangup:2500,1500")
    AmdPolicy(policy='hangup', args='2500,1500')
    """
    if not text:
        return None
    policy, _, args = text.partition(":")
    if policy not in POLICIES:
        raise ConfigError(f"unknown AMD policy {policy!r}", fix="use play, voicemail or hangup")
    if not _ARGS.match(args):
        raise ConfigError(f"bad AMD arguments {args!r}",
                          fix="give up to 9 comma-separated whole numbers (milliseconds, counts)")
    return AmdPolicy(policy, args)
