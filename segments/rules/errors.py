"""What can be wrong with a rule, said with where and what was expected."""

from core.errors import SegbotError


class RuleError(SegbotError):
    """A rule that cannot be used: `position` is the 0-based offset in the text form, or
    None when the rule came as JSON (the message names the place instead)."""

    def __init__(self, message: str, *, position: int | None = None) -> None:
        where = f"at column {position + 1}: " if position is not None else ""
        super().__init__(f"{where}{message}")
        self.reason = message
        self.position = position

    def pointer(self, text: str) -> str:
        """The rule text with a caret under the offending position, for a chat or CLI."""
        if self.position is None:
            return text
        return f"{text}\n{' ' * self.position}^"


class RuleSyntaxError(RuleError):
    """The text is not a rule: the message says what was expected and what was found."""


class RuleTypeError(RuleError):
    """An unknown field, or a value or operator the field does not take (`age > "abc"`)."""


class RuleReferenceError(RuleError):
    """`in segment` names a segment that does not exist, or segments refer in a cycle."""
