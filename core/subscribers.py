"""Subscribing and unsubscribing: the service functions the bot's handlers call."""

import enum
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Event, EventType, Subscriber, SubscriberStatus

# Telegram allows up to 64 characters of [A-Za-z0-9_-] after /start.
_START_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")


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


def source_from_payload(payload: str | None) -> str | None:
    """The source a `/start` payload names; anything malformed counts as no source."""
    if payload is None or not _START_PAYLOAD.fullmatch(payload):
        return None
    return payload


async def subscribe(
    session: AsyncSession, *, profile: Profile, source: str | None, now: datetime
) -> tuple[Subscriber, SubscribeOutcome]:
    """Create or reactivate the subscriber and log the touch; commits.

    The first source stays on the subscriber (first touch); every `/start` is an event.
    """
    subscriber = await _find(session, profile.telegram_id)
    if subscriber is None:
        subscriber = Subscriber(
            telegram_id=profile.telegram_id,
            chat_id=profile.chat_id,
            status=SubscriberStatus.ACTIVE,
            subscribed_at=now,
            last_seen_at=now,
            source=source,
            attributes={},
        )
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
            payload={"source": source, "outcome": outcome.value},
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


async def _find(session: AsyncSession, telegram_id: int) -> Subscriber | None:
    return await session.scalar(select(Subscriber).where(Subscriber.telegram_id == telegram_id))


def _refresh_profile(subscriber: Subscriber, profile: Profile, now: datetime) -> None:
    subscriber.chat_id = profile.chat_id
    subscriber.first_name = profile.first_name
    subscriber.last_name = profile.last_name
    subscriber.username = profile.username
    subscriber.language_code = profile.language_code
    subscriber.last_seen_at = now
