"""Naming and finding subscribers, the way a person at a terminal knows them.

One subscriber is named by the row id segbot shows (`42`, or `id:42`), the Telegram user
id (`123456789`, or `tg:123456789`) or the @username (any case). `resolve_subscriber`
turns that into exactly one subscriber, or says why it cannot: nobody has it, bare digits
are one subscriber's id and another's Telegram id (`id:` or `tg:` then says which), or
two subscribers share a username (one of them changed theirs since the bot last saw
them). Every command that takes a subscriber goes through it, so all read names alike.

`search_subscribers` is for when the person knows only part of it: a fragment of a name,
username, Telegram id, phone or email.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, String, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.erasure import is_erased
from core.errors import SegbotError
from core.ids import as_id
from core.models import Subscriber

HOW_TO_NAME = "a subscriber id (42 or id:42), a Telegram id (tg:123456789) or @username"
# What can follow @: Telegram usernames are letters, digits and underscores.
_USERNAME = re.compile(r"[A-Za-z0-9_]+")
# Characters people put inside phone numbers; what is left of a phone fragment is digits.
_PHONE_PUNCTUATION = re.compile(r"[\s()+.-]")


class SubscriberRefError(SegbotError):
    """A name that does not lead to exactly one subscriber; the message says what to type."""


class UnknownSubscriberError(SubscriberRefError):
    """Nobody has that id, Telegram id or username."""


class MalformedSubscriberRefError(SubscriberRefError):
    """Not written as any of the ways a subscriber is named (`tg:abc`, `@a b`)."""


class AmbiguousSubscriberError(SubscriberRefError):
    """The name fits more than one subscriber; the message lists them."""


@dataclass(frozen=True, slots=True)
class Found:
    """A page of search results and how many matched in all."""

    subscribers: Sequence[Subscriber]
    total: int


def describe(subscriber: Subscriber) -> str:
    """How output names a subscriber: name, @username, id and Telegram id."""
    name = " ".join(filter(None, (subscriber.first_name, subscriber.last_name))) or "(no name)"
    handle = f" @{subscriber.username}" if subscriber.username else ""
    return f"{name}{handle} (id {subscriber.id}, Telegram {subscriber.telegram_id})"


async def resolve_subscriber(session: AsyncSession, ref: str) -> Subscriber:
    """The one subscriber `ref` names; SubscriberRefError says why there is not one."""
    given = ref.strip()
    kind, _, value = given.partition(":")
    number = as_id(value)
    if kind.lower() == "id" and number is not None:
        return await _only(session, given, Subscriber.id == number)
    if kind.lower() == "tg" and number is not None:
        return await _only(session, given, Subscriber.telegram_id == number)
    if given.startswith("@") and _USERNAME.fullmatch(given[1:]):
        return await _only(session, given, func.lower(Subscriber.username) == given[1:].lower())
    number = as_id(given)
    if number is not None:
        return await _only(
            session,
            given,
            or_(Subscriber.id == number, Subscriber.telegram_id == number),
            hint=f"write id:{number} or tg:{number}",
        )
    raise MalformedSubscriberRefError(
        f"{given!r} does not name a subscriber: give {HOW_TO_NAME}; "
        f"`segbot subscribers find TEXT` searches names, phones and emails"
    )


async def search_subscribers(session: AsyncSession, *, text: str, limit: int) -> Found:
    """Subscribers whose name, username, Telegram id, phone or email contains `text` (any
    case; a phone fragment may have spaces, dashes or brackets), or whose id it is; the
    first `limit` by id, and how many matched in all. Erased subscribers are left out."""
    needle = text.strip().removeprefix("@").lower()
    if not needle:
        raise SubscriberRefError("give some text to search for: a name, @username, id or phone")
    full_name = (
        func.coalesce(Subscriber.first_name, "") + " " + func.coalesce(Subscriber.last_name, "")
    )
    matches: list[ColumnElement[bool]] = [
        func.lower(full_name).contains(needle, autoescape=True),
        func.lower(Subscriber.username).contains(needle, autoescape=True),
        Subscriber.email.contains(needle, autoescape=True),  # stored lower-case
    ]
    digits = _PHONE_PUNCTUATION.sub("", needle)
    number = as_id(digits)
    if number is not None:
        matches += [
            Subscriber.id == number,
            cast(Subscriber.telegram_id, String).contains(digits, autoescape=True),
            Subscriber.phone.contains(digits, autoescape=True),
        ]
    where = or_(*matches) & ~is_erased()
    total = await session.scalar(select(func.count()).select_from(Subscriber).where(where))
    rows = await session.scalars(
        select(Subscriber).where(where).order_by(Subscriber.id).limit(limit)
    )
    return Found(subscribers=rows.all(), total=int(total or 0))


async def _only(
    session: AsyncSession, given: str, where: ColumnElement[bool], *, hint: str | None = None
) -> Subscriber:
    found = (await session.scalars(select(Subscriber).where(where).order_by(Subscriber.id))).all()
    if not found:
        raise UnknownSubscriberError(
            f"no subscriber is {given!r}: give {HOW_TO_NAME}; "
            f"`segbot subscribers find TEXT` searches names, phones and emails"
        )
    if len(found) > 1:
        who = "; ".join(describe(subscriber) for subscriber in found)
        raise AmbiguousSubscriberError(
            f"{given!r} fits {len(found)} subscribers: {who}; {hint or 'name one by id:ID'}"
        )
    return found[0]
