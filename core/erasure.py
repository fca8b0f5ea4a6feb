"""Erasure, table by table: what `/forget` leaves of a person (`core.subscribers.forget`).

The promise: afterwards no table holds their Telegram id, names, username, phone, email,
place, language, attributes, tags, quiz answers, button data or message texts. What stays
are anonymous counts: their subscriber row, with nothing that says who they were, and the
rows reports count it by, so that the past still adds up.

Tables are found from the metadata, so a table added later is covered with no change
here: every table with a column that refers to a subscriber (a foreign key to
`subscribers.id`, or a column named `subscriber_id`) loses the person's rows, unless it is
named below. Per table:

- `subscribers`: the row stays, anonymous and unsubscribed (`core.subscribers.forget`).
- `events`, `deliveries`, `journey_enrolments` (ANONYMOUS_COUNTS): kept for the counts;
  every JSON column is emptied (quiz answers, button data, message texts, link tags,
  reactions, sources). A journey they were inside ends as the forgetting is read
  (journeys.triggers.STOPS), as an unsubscribe would end it.
- `customers` (OTHERS_RECORDS): the shop's records matched to them are unlinked and their
  name, phone, email and attributes cleared; their orders and RFM scores stay, anonymous.
  Any other customer record carrying their phone loses it; one carrying their email
  loses it unless it is linked to another subscriber (an email is only typed: it may be
  that subscriber's).
- any other table that refers to them (tags, segment members, ladder stages, activity
  levels, purchase sums): their rows are deleted; refreshes recompute what still applies.
- `audit_log`: their Telegram id, @username, phone (however it was typed: `+34 (600)
  111-222`, `600 111 222`, `600/111/222`) and email become "[erased]" in the entries that
  name them; the admin's action stays.
- `identity_conflicts`, `rejected_rows`: a conflict over their phone or email, or listing
  them, and a rejected CRM row carrying their phone or email, are deleted.
- other subscribers' first touch: a referrer naming them (Telegram id, or username with
  or without its @, in any case) is cleared from those rows and their /start events.
- `inbound_updates`: the webhook inbox empties an update as soon as it is handled
  (`core.inbox.mark_handled`), so nothing of theirs is kept there to erase.

A process that looked them up before the erasure committed may write after it (the event
log's touch in hand, a CRM sync's link): it erases its rows again after its commit, and the
erasure runs once more after its own (`erase_late_rows`).

A table is only seen here if its model was imported: the bot, the CLI and the migrations
import them all.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import phonenumbers
from sqlalchemy import JSON, Column, Table, Text, and_, cast, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from core.db import Base
from core.id_lists import among
from core.models import AuditLog, Event, EventType, Subscriber

ERASED = "[erased]"
ANONYMOUS_COUNTS = frozenset({"events", "deliveries", "journey_enrolments"})
# Someone else's record that points at a subscriber: the columns saying who the person is.
OTHERS_RECORDS = {"customers": ("name", "phone", "email", "attributes", "matched_by")}
# In `customers`: contacts as in `subscribers` (E.164, lower-case), and the link to one.
PHONE_COLUMN, EMAIL_COLUMN, LINK_COLUMN = "phone", "email", "subscriber_id"
SUBSCRIBER_KEY = f"{Subscriber.__tablename__}.id"
# What people put between a phone number's digits, as the phone parser (phonenumbers)
# reads past it: spaces of every width, dashes of every length, dots, slashes, brackets,
# tildes, and the invisible soft hyphen and zero-width characters.
PHONE_GAPS = (
    " \u00a0\u3000\u00ad\u200b\u2060"
    "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d"
    "./\uff0f()\uff08\uff09[]\uff3b\uff3d~\u2053\u223c\uff5e"
)
PHONE_GAP = f"[{re.escape(PHONE_GAPS)}]*"


@dataclass(frozen=True, slots=True)
class Person:
    """Who is being erased, as read from their row before it is cleared."""

    subscriber_id: int
    telegram_id: int
    username: str | None
    phone: str | None  # E.164
    email: str | None

    def mentions(self) -> list[str]:
        """How an admin names them: Telegram id, @username, phone (with and without its
        +) and email. A bare username is a mention only in a rule (`rule_mention`): it
        may be any word ("black_friday"), and an admin's tag of that name names no one."""
        named = [str(self.telegram_id)]
        if self.username:
            named.append(f"@{self.username}")
        if self.phone:
            named += [self.phone, self.phone.removeprefix("+")]
        if self.email:
            named.append(self.email)
        return named

    def rule_mention(self) -> str | None:
        """A regex for their bare username where a rule compares a username or referrer
        with it (`username = bran`, `referrer != "bran"`): what precedes it is the group
        `keep`, which stays."""
        if not self.username:
            return None
        return rf"(?P<keep>\b(?:username|referrer)\s*!?=\s*[\"']?){re.escape(self.username)}"

    def national_number(self) -> str | None:
        """Their phone's digits after the country code: in every way of writing it."""
        if self.phone is None:
            return None
        try:
            return str(phonenumbers.parse(self.phone).national_number)
        except phonenumbers.NumberParseException:
            return None

    def phone_pattern(self) -> str | None:
        """A regex for their phone as people type it (`/find +34 (600) 111-222`): after
        its country code (with + or 00, or bare) or not (a trunk 0 before it or not), its
        digits apart or grouped by spaces, dashes, dots or brackets."""
        national = self.national_number()
        if self.phone is None or national is None:
            return None
        country = self.phone.removeprefix("+").removesuffix(national)
        gap = PHONE_GAP
        before = rf"(?:(?:\+|00)?{gap}{gap.join(country)}{gap}|0{gap})?"
        return before + gap.join(national)


def is_erased() -> ColumnElement[bool]:
    """Subscribers whose personal data was erased: anonymous counts, nobody to reach (an
    erased row's Telegram id is minus its row id: `core.subscribers.forget`)."""
    return Subscriber.telegram_id < 0


async def erase_person(session: AsyncSession, person: Person) -> None:
    """Everything above but the subscriber row itself; the caller commits."""
    await _erase_references(session, [person.subscriber_id])
    await _redact_audit_log(session, person)
    await _erase_crm_mentions(session, person)
    await _clear_referrals(session, person)


async def erase_late_rows(session: AsyncSession, subscriber_ids: Iterable[int]) -> list[int]:
    """Those of `subscriber_ids` erased by now, with what refers to them erased again:
    the rows of a process that looked them up before their erasure committed and wrote
    after it (a touch the event log had in hand, with its message text; a customer a CRM
    sync was linking to them). Such a writer calls this after its commit, and the erasure
    once more after its own, so one of the two sees the other's rows whatever the order.
    Idempotent; the caller commits."""
    listed = sorted(set(subscriber_ids))
    if not listed:
        return []
    query = select(Subscriber.id).where(among(Subscriber.id, listed), is_erased())
    erased = list((await session.scalars(query)).all())
    if erased:
        await _erase_references(session, erased)
    return erased


async def _erase_references(session: AsyncSession, subscriber_ids: list[int]) -> None:
    for table in Base.metadata.sorted_tables:
        reference = _subscriber_reference(table)
        if reference is not None:
            await _erase_rows(session, table, reference, subscriber_ids)


def _subscriber_reference(table: Table) -> Column[Any] | None:
    """The column of `table` that names a subscriber, if it has one."""
    for column in table.columns:
        named = column.name == "subscriber_id"
        if named or any(key.target_fullname == SUBSCRIBER_KEY for key in column.foreign_keys):
            return column
    return None


async def _erase_rows(
    session: AsyncSession, table: Table, reference: Column[Any], subscriber_ids: list[int]
) -> None:
    theirs = reference.in_(subscriber_ids)
    if table.name in ANONYMOUS_COUNTS:
        emptied: dict[str, Any] = {
            column.name: {} for column in table.columns if isinstance(column.type, JSON)
        }
        if emptied:
            await session.execute(update(table).where(theirs).values(emptied))
    elif table.name in OTHERS_RECORDS:
        cleared = {name: _empty(table.c[name]) for name in OTHERS_RECORDS[table.name]}
        await session.execute(update(table).where(theirs).values({reference.name: None, **cleared}))
    else:
        await session.execute(delete(table).where(theirs))


def _empty(column: Column[Any]) -> dict[str, Any] | None:
    return {} if isinstance(column.type, JSON) else None


async def _redact_audit_log(session: AsyncSession, person: Person) -> None:
    """An admin names a person by Telegram id, username, email or phone (written any way
    `/find` reads it)."""
    rule = person.rule_mention()
    named, pattern = _naming(AuditLog.detail, person, person.mentions(), rule)
    if person.username:
        named = or_(named, _mentions_any(AuditLog.detail, [person.username]))
    entries = await session.scalars(select(AuditLog).where(named))
    for entry in entries:
        redacted = _redacted(entry.detail, pattern, person.telegram_id)
        if redacted != entry.detail:
            entry.detail = redacted


async def _erase_crm_mentions(session: AsyncSession, person: Person) -> None:
    """Their phone leaves every customer record holding it: Telegram vouches for it (they
    shared their own contact). Their email was only typed (`/email`), perhaps someone
    else's: it leaves the records linked to nobody, not those linked to another
    subscriber (whose email it may well be)."""
    contacts = [value for value in (person.phone, person.email) if value]
    customers = Base.metadata.tables.get("customers")
    if customers is not None and person.phone:
        phone = customers.c[PHONE_COLUMN]
        await session.execute(update(customers).where(phone == person.phone).values(phone=None))
    if customers is not None and person.email:
        email, linked = customers.c[EMAIL_COLUMN], customers.c[LINK_COLUMN]
        unlinked = and_(email == person.email, linked.is_(None))
        await session.execute(update(customers).where(unlinked).values(email=None))
    conflicts = Base.metadata.tables.get("identity_conflicts")
    if conflicts is not None:
        listing = await session.execute(
            select(conflicts.c.id, conflicts.c.subscriber_ids).where(
                _mentions_any(conflicts.c.subscriber_ids, [str(person.subscriber_id)])
            )
        )
        theirs = [key for key, listed in listing.all() if person.subscriber_id in listed]
        await session.execute(
            delete(conflicts).where(
                or_(conflicts.c.value.in_(contacts), conflicts.c.id.in_(theirs))
            )
        )
    rejected = Base.metadata.tables.get("rejected_rows")
    if rejected is not None and contacts:
        mentions = [*contacts, *([person.phone.removeprefix("+")] if person.phone else [])]
        named, pattern = _naming(rejected.c.raw, person, mentions)
        candidates = await session.execute(select(rejected.c.id, rejected.c.raw).where(named))
        theirs = [key for key, raw in candidates.all() if _redacted(raw, pattern, None) != raw]
        await session.execute(delete(rejected).where(rejected.c.id.in_(theirs)))


async def _clear_referrals(session: AsyncSession, person: Person) -> None:
    """A referrer is whatever the deep link said; it names them if it is their Telegram id
    or username."""
    names = [str(person.telegram_id)]
    if person.username:  # as Telegram reads usernames: in any case
        names += [person.username.lower(), f"@{person.username.lower()}"]
    await session.execute(
        update(Subscriber).where(func.lower(Subscriber.referrer).in_(names)).values(referrer=None)
    )
    touches = await session.execute(
        select(Event.id, Event.payload).where(
            Event.type.in_([EventType.SUBSCRIBED, EventType.START]),
            _mentions_any(Event.payload, names),
        )
    )
    for event_id, payload in touches.all():
        if str(payload.get("referrer")).lower() in names:
            kept = {key: value for key, value in payload.items() if key != "referrer"}
            await session.execute(update(Event).where(Event.id == event_id).values(payload=kept))


def _mentions_any(
    column: ColumnElement[Any] | InstrumentedAttribute[Any], needles: Iterable[str]
) -> ColumnElement[bool]:
    """The column's text (JSON as its text) contains one of `needles`, ignoring case: a
    cheap first cut, which the caller narrows when a mere substring is not enough."""
    text = func.lower(cast(column, Text))
    return or_(*(text.contains(needle.lower(), autoescape=True) for needle in needles))


def _naming(
    column: ColumnElement[Any] | InstrumentedAttribute[Any],
    person: Person,
    mentions: list[str],
    *patterns: str | None,
) -> tuple[ColumnElement[bool], re.Pattern[str]]:
    """Which rows of `column` may name the person (by one of `mentions`, or by their phone
    however it is written: its national digits in order in the text), and the pattern
    that finds each mention (and each match of `patterns`) in them."""
    named = _mentions_any(column, mentions)
    national, phone = person.national_number(), person.phone_pattern()
    if national is not None and phone is not None:
        # Its digits in order, anything between: a wider cut, which the pattern narrows.
        named = or_(named, cast(column, Text).like(f"%{'%'.join(national)}%"))
    found = [each for each in (phone, *patterns) if each is not None]
    return named, _mention_pattern(mentions, *found)


def _mention_pattern(mentions: list[str], *patterns: str) -> re.Pattern[str]:
    """A mention (or a match of one of `patterns`) standing on its own: `501` in "/find
    501", not in "run 15012". A pattern's group `keep` is kept (`_redacted`)."""
    alternatives = "|".join([*(re.escape(mention) for mention in mentions), *patterns])
    return re.compile(rf"(?<![\w@+.-])(?:{alternatives})(?![\w@-]|\.\w)", re.IGNORECASE)


def _redacted(value: Any, pattern: re.Pattern[str], telegram_id: int | None) -> Any:
    """`value` (JSON) with every mention `pattern` finds (less its group `keep`), and the
    Telegram id as a number, replaced by ERASED."""
    if isinstance(value, str):
        return pattern.sub(lambda found: (found.groupdict().get("keep") or "") + ERASED, value)
    if isinstance(value, int) and not isinstance(value, bool) and value == telegram_id:
        return ERASED
    if isinstance(value, list):
        return [_redacted(item, pattern, telegram_id) for item in value]
    if isinstance(value, dict):
        return {key: _redacted(item, pattern, telegram_id) for key, item in value.items()}
    return value
