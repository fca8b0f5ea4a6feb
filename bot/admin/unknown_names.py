"""A name nothing has, in the admin chat: the reply says so with the names there are, as
the command line does (journeys/known_names.py decides which, for both).

`/journey nope` is answered "no journey named 'nope'; the journeys are: series": the
admin fixes the name at once, without another command to find it. A chat reply is read on
a phone, so it lists SHOWN names at most, in the order the command that lists them all
shows them (the latest campaigns first, as /campaigns; the others alphabetically), and
counts the rest with that command. Every command's refusal goes through `with_names`
(bot.admin.run_command), so no command has to remember to.
"""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import SegbotError
from journeys.known_names import Named, named_by, names_told

SHOWN = 10  # names listed at most; the rest are counted


class UnknownNameError(SegbotError):
    """No segment, campaign, journey or persona has that name; the message says which
    names there are."""


@dataclass(frozen=True, slots=True)
class _Words:
    """The chat's words for a kind of name."""

    listed_by: str  # the command that lists them all
    made_by: str  # how to make a first one
    newest_first: bool = False  # as `listed_by` lists them


_WORDS = {
    Named.SEGMENTS: _Words("/segments lists them", "/segment_save NAME QUERY saves one"),
    Named.CAMPAIGNS: _Words(  # /campaigns lists as many: the older are reached by id
        "the older ones: /campaign ID", "/broadcast starts the wizard", newest_first=True
    ),
    Named.JOURNEYS: _Words("/journeys lists them", "segbot journey create FILE.yaml makes one"),
    Named.PERSONAS: _Words(
        "/personas lists them", "/persona_from SEGMENT or /persona_create makes one"
    ),
}


async def with_names(error: SegbotError, session: AsyncSession) -> SegbotError:
    """`error` as an UnknownNameError with the names there are, when it is about a name
    nothing has; otherwise `error` itself."""
    kind = named_by(error)
    if kind is None:
        return error
    return UnknownNameError(f"{error}; {await names_text(session, kind)}")


async def names_text(session: AsyncSession, kind: Named) -> str:
    """The names of `kind` there are, for a reply: "the segments are: buyers, vip"."""
    words = _WORDS[kind]
    return await names_told(
        session, kind, shown=SHOWN, listed_by=words.listed_by, made_by=words.made_by,
        newest_first=words.newest_first,
    )  # fmt: skip
