"""The limits of the rule language: how big a rule may be.

A rule comes from a person (a chat, the CLI, a campaign file), so its size is bounded
before it costs anything. Within these limits every rule parses, compiles and runs on
SQLite and PostgreSQL alike; beyond them it is refused with a `RuleLimitError` that, for
the text form, gives the column where the limit was crossed.

- Text: at most `MAX_LENGTH` characters.
- Nesting: at most `MAX_NESTING` levels of parentheses and `not` (a `not in` or
  `is not set` is no level). `in segment` counts the segment's rule as written in
  parentheses there.
- Conditions: at most `MAX_TERMS` predicates, counted with every `in segment` replaced
  by the segment's rule (which is what runs).
- Lists: at most `MAX_LIST` values in one `in (...)`.
- Numbers (values, counts, campaign ids): less than `MAX_NUMBER` either side of zero.
- Durations (`within`): at most `MAX_DURATION_DAYS` days (100 years).
- Dates (`before`, `after`): at most `MAX_DATE`, so the midnight after it, where `after`
  begins, is a moment Python and both databases hold.

The parser reports each where it is written; `segments.rules.tree.check_limits` checks a
rule tree (from JSON, or built in code) against the same limits, and the compiler runs it
before anything reaches a database.
"""

from datetime import date

from segments.rules.errors import RuleLimitError

MAX_LENGTH = 10_000
MAX_NESTING = 20
# PostgreSQL plans the conditions `and`-ed at the top of a rule as joins, in a time that
# grows about with the cube of their number: 30 take up to a second, 50 several.
MAX_TERMS = 30
MAX_LIST = 1_000
MAX_NUMBER = 10**15
MAX_DURATION_DAYS = 36_500
MAX_DURATION_HOURS = MAX_DURATION_DAYS * 24
MAX_DATE = date(9999, 12, 30)

TOO_LONG = f"a rule is at most {MAX_LENGTH:,} characters"
TOO_DEEP = f"a rule nests at most {MAX_NESTING} levels of parentheses and `not`"
TOO_MANY_TERMS = f"a rule has at most {MAX_TERMS} conditions"
TOO_MANY_VALUES = f"an `in` list has at most {MAX_LIST:,} values"
TOO_BIG = "a number is between -10^15 and 10^15"
TOO_LONG_AGO = f"a duration is at most {MAX_DURATION_DAYS}d (100 years)"
TOO_LATE = f"a date is at most {MAX_DATE.isoformat()}"


def is_small(number: float) -> bool:
    """Within the number range: exact in both databases' arithmetic (and not NaN)."""
    return -MAX_NUMBER < number < MAX_NUMBER


def check_number(number: float) -> None:
    if not is_small(number):
        raise RuleLimitError(TOO_BIG)


def check_date(day: date) -> None:
    if day > MAX_DATE:
        raise RuleLimitError(TOO_LATE)


def check_list(length: int) -> None:
    if length > MAX_LIST:
        raise RuleLimitError(f"{TOO_MANY_VALUES}; this one has {length:,}")
