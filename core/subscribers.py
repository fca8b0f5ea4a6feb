"""Subscribing, unsubscribing and erasure (/forget): the service functions the bot's handlers
call."""

import enum
import re
from dataclasses import asdict, astuple, dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.erasure import Person, erase_person
from core.models import Event, EventType, Subscriber, SubscriberStatus
from core.sources import StartSource


@dataclass(frozen=True, slots=True)
class Profile:
    """Who a Telegram user says they are, as the bot sees them in an update."""

    telegram_id: int
    chat_id: int
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


class SubscribeOutcome(enum.StrEnum):
    NEW = "new"
    RESUBSCRIBED = "resubscribed"  # had stopped, blocked or been deactivated; active again
    ALREADY_ACTIVE = "already_active"


async def subscribe(
    session: AsyncSession, *, profile: Profile, source: StartSource | None, now: datetime
) -> tuple[Subscriber, SubscribeOutcome]:
    """Create or reactivate the subscriber and log the touch; commits.

    The first source stays on the subscriber (first touch); every `/start` is an event
    carrying its own source. A source no database can keep (a forged UTM payload with a
    NUL in it) counts as no source.
    """
    source = source if _storable(source) else None
    subscriber = await _find(session, profile.telegram_id)
    if subscriber is None:
        subscriber = Subscriber(
            telegram_id=profile.telegram_id,
            chat_id=profile.chat_id,
            status=SubscriberStatus.ACTIVE,
            subscribed_at=now,
            last_seen_at=now,
            attributes={},
        )
        _set_first_touch(subscriber, source)
        session.add(subscriber)
        try:
            await session.flush()
        except IntegrityError:  # the same user's parallel /start got there first
            await session.rollback()
            return await subscribe(session, profile=profile, source=source, now=now)
        outcome = SubscribeOutcome.NEW
    elif subscriber.status is SubscriberStatus.ACTIVE:
        outcome = SubscribeOutcome.ALREADY_ACTIVE
    else:
        subscriber.status = SubscriberStatus.ACTIVE
        subscriber.subscribed_at = now
        subscriber.unsubscribed_at = None
        outcome = SubscribeOutcome.RESUBSCRIBED
    _refresh_profile(subscriber, profile, now)
    event_type = (
        EventType.START if outcome is SubscribeOutcome.ALREADY_ACTIVE else EventType.SUBSCRIBED
    )
    session.add(
        Event(
            subscriber_id=subscriber.id,
            type=event_type,
            occurred_at=now,
            payload={"outcome": outcome.value, **_touch(source)},
        )
    )
    await session.commit()
    return subscriber, outcome


async def unsubscribe(session: AsyncSession, *, telegram_id: int, now: datetime) -> bool:
    """Mark an active subscriber unsubscribed and log it; commits. False if nothing changed."""
    subscriber = await _find(session, telegram_id)
    if subscriber is None or subscriber.status is not SubscriberStatus.ACTIVE:
        return False
    subscriber.status = SubscriberStatus.UNSUBSCRIBED
    subscriber.unsubscribed_at = now
    subscriber.last_seen_at = now
    session.add(
        Event(subscriber_id=subscriber.id, type=EventType.UNSUBSCRIBED, occurred_at=now, payload={})
    )
    await session.commit()
    return True


async def record_block(
    session: AsyncSession, *, telegram_id: int, blocked: bool, now: datetime
) -> bool:
    """The user blocked (or unblocked) the bot; commits. False if nothing changed.

    Unblocking restores an active subscription only if they had not said /stop before.
    """
    subscriber = await _find(session, telegram_id)
    if subscriber is None:
        return False
    if blocked:
        if subscriber.status is SubscriberStatus.BLOCKED:
            return False
        subscriber.status = SubscriberStatus.BLOCKED
    else:
        if subscriber.status is not SubscriberStatus.BLOCKED:
            return False
        stopped = subscriber.unsubscribed_at is not None
        subscriber.status = SubscriberStatus.UNSUBSCRIBED if stopped else SubscriberStatus.ACTIVE
    subscriber.last_seen_at = now
    kind = EventType.BLOCKED if blocked else EventType.UNBLOCKED
    session.add(Event(subscriber_id=subscriber.id, type=kind, occurred_at=now, payload={}))
    await session.commit()
    return True


async def forget(session: AsyncSession, *, telegram_id: int, now: datetime) -> int | None:
    """Erase the subscriber's personal data everywhere (`core.erasure`); the caller commits.

    The row stays as an anonymous count, unsubscribed, so aggregate reports still add up:
    it keeps its first-touch source and UTM fields (they describe a campaign, not the
    person) and its dates, and loses everything that says who it was. Its Telegram id
    becomes `erased_telegram_id(row id)`, so the bot can never reach or recognise the
    person through it; a later /start makes them a new subscriber. Returns the subscriber
    id, or None if the user is unknown.
    """
    subscriber = await _find(session, telegram_id)
    if subscriber is None:
        return None
    person = Person(
        subscriber_id=subscriber.id,
        telegram_id=subscriber.telegram_id,
        username=subscriber.username,
        phone=subscriber.phone,
        email=subscriber.email,
    )
    for personal in _PERSONAL_FIELDS:
        setattr(subscriber, personal, None)
    subscriber.telegram_id = erased_telegram_id(subscriber.id)
    subscriber.chat_id = NO_CHAT
    subscriber.attributes = {}
    subscriber.status = SubscriberStatus.UNSUBSCRIBED
    subscriber.unsubscribed_at = now
    await erase_person(session, person)
    session.add(Event(subscriber_id=subscriber.id, type=EventType.FORGOTTEN, occurred_at=now))
    return subscriber.id


def erased_telegram_id(subscriber_id: int) -> int:
    """The Telegram id an erased subscriber's row carries: minus its row id. Telegram's
    user ids are positive, so it names nobody, and it stays unique."""
    return -subscriber_id


# Letters, then subtags; at most 16 characters in all (the column's width).
_LANGUAGE_TAG = re.compile(r"(?=.{2,16}$)[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")
NO_CHAT = 0  # an erased subscriber's chat: Telegram has none with this id
# Everything that says who a subscriber is, besides the Telegram id, the chat and the
# attributes. Source and UTM fields describe a campaign, not the person, and stay for
# attribution.
_PERSONAL_FIELDS = (
    "first_name",
    "last_name",
    "username",
    "language_code",
    "phone",
    "email",
    "country",
    "region",
    "city",
    "timezone",
    "referrer",
)


async def _find(session: AsyncSession, telegram_id: int) -> Subscriber | None:
    return await session.scalar(select(Subscriber).where(Subscriber.telegram_id == telegram_id))


def _set_first_touch(subscriber: Subscriber, source: StartSource | None) -> None:
    if source is None:
        return
    subscriber.source = source.name
    subscriber.utm_source = source.utm_source
    subscriber.utm_medium = source.utm_medium
    subscriber.utm_campaign = source.utm_campaign
    subscriber.utm_content = source.utm_content
    subscriber.referrer = source.referrer


def _storable(source: StartSource | None) -> bool:
    """Whether every text `source` holds can be stored: PostgreSQL refuses NUL characters."""
    if source is None:
        return True
    values = [value for value in astuple(source) if isinstance(value, str)]
    if source.customer is not None:
        values += [value for value in astuple(source.customer) if isinstance(value, str)]
    return not any("\x00" in value for value in values)


def _touch(source: StartSource | None) -> dict[str, object]:
    """The event payload describing one touch: the source fields that are set. A customer
    link is only flagged: CRM ids stay out of the event log."""
    if source is None:
        return {"source": None}
    fields = {key: value for key, value in asdict(source).items() if value is not None}
    if fields.pop("customer", None) is not None:
        fields["customer_link"] = True
    return {"source": fields.pop("name", None), **fields}


def _refresh_profile(subscriber: Subscriber, profile: Profile, now: datetime) -> None:
    subscriber.chat_id = profile.chat_id
    subscriber.first_name = profile.first_name
    subscriber.last_name = profile.last_name
    subscriber.username = profile.username
    if not subscriber.attributes.get("language_chosen"):
        subscriber.language_code = _language_tag(profile.language_code)
    subscriber.last_seen_at = now


def _language_tag(code: str | None) -> str | None:
    """`code` if it reads as an IETF language tag that fits the column (`es`, `pt-BR`,
    `zh-hans`); None for anything else a client sends, which says no language."""
    return code if code is not None and _LANGUAGE_TAG.fullmatch(code) else None
