"""The one base class for errors segbot expects and explains to people."""


class SegbotError(Exception):
    """A domain error with a message fit to show a user or an operator as is."""


class ConfigError(SegbotError):
    """Configuration is missing or malformed; the message names the setting."""


class NotPossibleError(SegbotError):
    """The request is well formed, but what there is does not allow it (too few
    subscribers to find clusters in, a campaign that is done to pause); a command exits 1
    for it, not 2."""
