"""What can be wrong with a rule, said with where and what was expected.

Every message stays short whatever the rule: a quoted piece of the rule is cut with
`excerpt`, a message to `MAX_MESSAGE` characters, and `pointer` shows a window of the rule
around the place, so a reply in a chat (4,096 characters at most) always fits.
"""

from core.errors import SegbotError

MAX_MESSAGE = 300  # characters in a rule error's message
QUOTED = 40  # characters of the rule a message quotes
WINDOW = 40  # characters of the rule shown on each side of the place


def excerpt(text: str, limit: int = QUOTED) -> str:
    """`text`, cut to `limit` characters with an ellipsis when longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RuleError(SegbotError):
    """A rule that cannot be used: `position` is the 0-based offset in the text form, or
    None when the rule came as JSON (the message names the place instead)."""

    def __init__(self, message: str, *, position: int | None = None) -> None:
        message = excerpt(message, MAX_MESSAGE)
        where = f"at column {position + 1}: " if position is not None else ""
        super().__init__(f"{where}{message}")
        self.reason = message
        self.position = position

    def pointer(self, text: str) -> str:
        """The rule text with a caret under the offending position, for a chat or CLI: a
        window of `WINDOW` characters either side, `…` where it is cut (the whole text, cut
        the same way, when there is no position)."""
        if self.position is None:
            return excerpt(" ".join(text.split()), 2 * WINDOW)
        start = max(self.position - WINDOW, 0)
        end = self.position + WINDOW
        # Any whitespace shown as one space, so the caret stays under its character.
        shown = "".join(" " if char.isspace() else char for char in text[start:end])
        before = "…" if start > 0 else ""
        after = "…" if end < len(text) else ""
        return f"{before}{shown}{after}\n{' ' * (len(before) + self.position - start)}^"


class RuleSyntaxError(RuleError):
    """The text is not a rule: the message says what was expected and what was found."""


class RuleTypeError(RuleError):
    """An unknown field, or a value or operator the field does not take (`age > "abc"`)."""


class RuleReferenceError(RuleError):
    """`in segment` names a segment that does not exist, or segments refer in a cycle."""


class RuleLimitError(RuleError):
    """The rule is larger than the language allows (`segments.rules.limits`): too long,
    nested too deep, too many conditions or list values, a number or duration too big."""
