"""Inferred reads. Telegram tells bots nothing about reading, so segbot infers it, and
reports call it "read (inferred)": a message counts as read at the first sign of life from
its recipient after it was sent — a click on one of its links, a button press or reaction
on it, or any later message or command from them (they had the chat open)."""

from datetime import datetime

from sqlalchemy import ColumnElement, ScalarSelect, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Event, EventType

# Events that show the subscriber was looking at the chat (or at a link from it).
SIGNS_OF_READING = (
    EventType.MESSAGE,
    EventType.COMMAND,
    EventType.BUTTON,
    EventType.REACTION,
    EventType.LINK_CLICK,
    EventType.QUIZ_ANSWER,
    EventType.CONTACT_SHARED,
    EventType.START,
    EventType.UNSUBSCRIBED,
)


def read_at(
    subscriber_id: ColumnElement[int] | int, sent_at: ColumnElement[datetime] | datetime
) -> ScalarSelect[datetime]:
    """A correlated subquery: when the message sent at `sent_at` was (inferably) read.

    Usable per row or in one set-based UPDATE over many deliveries.
    """
    return (
        select(func.min(Event.occurred_at))
        .where(
            Event.subscriber_id == subscriber_id,
            Event.occurred_at >= sent_at,
            Event.type.in_(SIGNS_OF_READING),
        )
        .scalar_subquery()
    )


async def inferred_read_at(
    session: AsyncSession, *, subscriber_id: int, sent_at: datetime
) -> datetime | None:
    return await session.scalar(select(read_at(subscriber_id, sent_at)))
