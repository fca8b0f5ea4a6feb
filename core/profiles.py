"""What subscribers tell about themselves: quiz answers, phone, email, language.

Each function is a service boundary: it changes the subscriber, logs the event and commits.
The caller normalises phones and emails (crm_sync.identity) before handing them in.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import SegbotError
from core.models import Event, EventType, Subscriber, SubscriberTag
from core.quiz import PROFILE_FIELDS, Question


class NotSubscribedError(SegbotError):
    """The Telegram user has no subscriber (never started, or erased): the bot asks them
    to send /start, in their language."""

    def __init__(self) -> None:
        super().__init__("no subscriber has this Telegram id")


async def subscriber_of(session: AsyncSession, telegram_id: int) -> Subscriber:
    """The subscriber of a Telegram user, tags loaded; NotSubscribedError if none."""
    subscriber = await session.scalar(
        select(Subscriber).where(Subscriber.telegram_id == telegram_id)
    )
    if subscriber is None:
        raise NotSubscribedError
    return subscriber


async def answer_question(
    session: AsyncSession,
    *,
    telegram_id: int,
    question: Question,
    option_ids: Sequence[str],
    now: datetime,
) -> Subscriber:
    """Apply a quiz answer: set the question's attribute, replace its tags; commits.

    Answering again replaces the earlier answer (that is how /profile edits work).
    """
    options = [option for option in question.options if option.id in set(option_ids)]
    subscriber = await subscriber_of(session, telegram_id)
    if question.attribute is not None:
        chosen = [option.stored for option in options]
        value: Any = chosen if question.multiple else (chosen[0] if chosen else None)
        if question.attribute in PROFILE_FIELDS:
            setattr(subscriber, question.attribute, value)
        else:
            subscriber.attributes = {**subscriber.attributes, question.attribute: value}
    stale = {tag for option in question.options for tag in option.tags}
    await session.execute(
        delete(SubscriberTag).where(
            SubscriberTag.subscriber_id == subscriber.id, SubscriberTag.tag.in_(stale)
        )
    )
    fresh = {tag for option in options for tag in option.tags}
    session.add_all(
        SubscriberTag(subscriber_id=subscriber.id, tag=tag, added_at=now) for tag in fresh
    )
    session.add(
        Event(
            subscriber_id=subscriber.id,
            type=EventType.QUIZ_ANSWER,
            occurred_at=now,
            payload={"question": question.id, "answers": [option.id for option in options]},
        )
    )
    await session.commit()
    await session.refresh(subscriber, ["tags"])
    return subscriber


async def set_phone(session: AsyncSession, *, telegram_id: int, phone: str, now: datetime) -> int:
    """Store the subscriber's own phone (E.164); returns the subscriber id. Commits."""
    subscriber = await subscriber_of(session, telegram_id)
    subscriber.phone = phone
    session.add(Event(subscriber_id=subscriber.id, type=EventType.CONTACT_SHARED, occurred_at=now))
    await session.commit()
    return subscriber.id


async def set_email(session: AsyncSession, *, telegram_id: int, email: str, now: datetime) -> int:
    """Store the subscriber's email (trimmed, lower-case); returns the subscriber id. Commits."""
    subscriber = await subscriber_of(session, telegram_id)
    subscriber.email = email
    session.add(Event(subscriber_id=subscriber.id, type=EventType.EMAIL_SHARED, occurred_at=now))
    await session.commit()
    return subscriber.id


async def set_language(
    session: AsyncSession, *, telegram_id: int, language: str, now: datetime
) -> None:
    """The subscriber's chosen language; it outranks Telegram's from now on. Commits."""
    subscriber = await subscriber_of(session, telegram_id)
    subscriber.language_code = language
    subscriber.attributes = {**subscriber.attributes, "language_chosen": True}
    subscriber.last_seen_at = now
    await session.commit()
