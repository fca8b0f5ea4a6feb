"""Subscribers for broadcast tests, inserted in bulk, and campaign files built in code."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.campaigns import save_campaign
from broadcasts.models import Campaign, Delivery, DeliveryStatus, Run, RunStatus
from broadcasts.planner import plan_run
from broadcasts.spec import parse_campaign
from core.models import Subscriber, SubscriberStatus
from segments.saved import delete_segments, get_segment

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)  # a Monday, noon UTC


async def add_subscribers(
    session: AsyncSession,
    count: int,
    *,
    first_id: int = 1,
    language: str | None = "en",
    status: SubscriberStatus = SubscriberStatus.ACTIVE,
    timezone: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> list[int]:
    """`count` subscribers with telegram and chat ids from `first_id` on; their row ids."""
    telegram_ids = list(range(first_id, first_id + count))
    rows = [
        {
            "telegram_id": number,
            "chat_id": number,
            "first_name": f"User{number}",
            "language_code": language,
            "status": status,
            "timezone": timezone,
            "subscribed_at": NOW,
            "last_seen_at": NOW,
            "attributes": attributes or {},
        }
        for number in telegram_ids
    ]
    result = await session.scalars(insert(Subscriber).returning(Subscriber.id), rows)
    ids = list(result.all())
    await session.commit()
    return ids


async def campaign_from(session: AsyncSession, text: str, *, now: datetime = NOW) -> Campaign:
    return await save_campaign(session, spec=parse_campaign(text), now=now)


def yaml_lines(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def ids_of(rows: Sequence[tuple[int, ...]]) -> list[int]:
    return [row[0] for row in rows]


async def drop_segment(session: AsyncSession, name: str) -> None:
    """The segment gone whatever still names it, as AI segments are when regenerated
    (deleting one by hand, bot.admin.segment_deletion, is refused while it is used)."""
    segment = await get_segment(session, name=name)
    await delete_segments(session, segment_ids=[segment.id])
    await session.commit()


async def sent_earlier_to(session: AsyncSession, count: int, *, hours_ago: float) -> None:
    """Another campaign went to `count` subscribers `hours_ago`, then was cancelled: they
    count toward the frequency cap, the others (never to get it) do not."""
    earlier = await campaign_from(session, "name: earlier\ndefault: {text: hi}\n")
    at = NOW - timedelta(hours=hours_ago)
    run = (await plan_run(session, campaign=earlier, now=at)).run
    sent = select(Delivery.id).where(Delivery.run_id == run.id).limit(count)
    await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(sent.scalar_subquery()))
        .values(status=DeliveryStatus.SENT, claimed_at=at)
    )
    await session.execute(
        update(Delivery)
        .where(Delivery.run_id == run.id, Delivery.status == DeliveryStatus.QUEUED)
        .values(status=DeliveryStatus.CANCELLED)
    )
    await session.execute(update(Run).where(Run.id == run.id).values(status=RunStatus.CANCELLED))
    await session.commit()
