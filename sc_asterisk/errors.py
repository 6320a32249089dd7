"""Domain errors. Each carries the fix, so the CLI can print one line that says what to do."""


class ScError(Exception):
    """Base class: ``str(err)`` is the problem, ``err.fix`` says how to fix it.

    Example::

        raise ScError("no phone column in contacts.csv", fix="pass --mapping téléphone=phone")
    """

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.fix = fix

    def one_line(self) -> str:
        text = str(self).replace("\n", " ")
        return f"{text} ({self.fix})" if self.fix else text


class ConfigError(ScError):
    """A setting, file or option is wrong."""


class LabError(ScError):
    """The local Asterisk lab cannot be provisioned or run."""


class NotFound(ScError):
    """A named object (campaign, audio, contact) does not exist."""


class AmiError(ScError):
    """The Asterisk Manager Interface refused or did not answer."""
