"""Ids as people type them (admin commands, the CLI, the console): ASCII digits, no larger
than a BIGINT column holds.

`str.isdigit` is not enough: it passes "²" and "٣", which `int` refuses or reads, and a
number of any length, which the database refuses. Either was an error in the middle of a
command instead of "no such subscriber".
"""

from typing import Annotated

from pydantic import Field

MAX_ID = 2**63 - 1  # the largest BIGINT
BIGINT = range(-MAX_ID - 1, MAX_ID + 1)  # what a BIGINT column holds


def as_id(text: str) -> int | None:
    """`text` as an id, or None if it is not one."""
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number <= MAX_ID else None


# An id field of data parsed from outside (a button's callback data): a value out of range
# fails to parse, as a button nobody made does.
Id = Annotated[int, Field(ge=0, le=MAX_ID)]
