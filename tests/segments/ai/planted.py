"""A population with planted groups, stored in the database in bulk: each group has its
own language, country, city, quiz interest, age band, clicked-link tag, ladder stage and
way of engaging; a few answers are swapped at random so the groups are not trivially
separable."""

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Event, Subscriber, SubscriberTag
from crm_sync.facts import refresh_subscriber_purchases
from crm_sync.models import Customer
from segments.models import LadderStage, RfmScore

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Group:
    name: str
    lang: str
    country: str
    city: str
    interest: str  # a quiz tag
    age_band: str
    link_tag: str  # the tag of the links they click
    stage: int
    kinds: dict[str, int]  # events of each type in the last weeks
    hour: int  # UTC hour they are active at


GROUPS = (
    Group("deal hunters", "es", "ES", "Madrid", "interest:deals", "25_34", "deals", 2,
          {"read": 8, "link_click": 6}, 20),
    Group("news readers", "en", "US", "Boston", "interest:news", "45_plus", "news", 3,
          {"read": 10, "link_click": 1}, 8),
    Group("event goers", "ru", "RU", "Moscow", "interest:events", "under_25", "events", 1,
          {"message": 6, "reaction": 4}, 14),
)  # fmt: skip
PLANTED_TRAITS = {
    "deal hunters": {"country:ES", "tag:interest:deals", "clicked:deals"},
    "news readers": {"country:US", "tag:interest:news", "clicked:news"},
    "event goers": {"country:RU", "tag:interest:events", "replies:high"},
}


def _pick(rng: random.Random, own: Any, others: list[Any], noise: float) -> Any:
    return rng.choice(others) if rng.random() < noise else own


async def plant(
    session: AsyncSession,
    *,
    per_group: int = 60,
    noise: float = 0.1,
    seed: int = 3,
    buyers_in: str | None = None,
) -> dict[int, str]:
    """Store `per_group` subscribers of each group; {subscriber id: group name}. With
    `buyers_in`, the first half of that group are CRM customers with orders."""
    rng = random.Random(seed)  # noqa: S311  (test data, not secrets)
    people: list[dict[str, Any]] = []
    groups: list[Group] = []
    for group in GROUPS:
        others = [g for g in GROUPS if g is not group]
        for _ in range(per_group):
            twin = rng.choice(others)
            noisy = {
                attribute: _pick(rng, getattr(group, attribute), [getattr(twin, attribute)], noise)
                for attribute in ("lang", "country", "city", "age_band")
            }
            people.append(
                {
                    "telegram_id": len(people) + 1, "chat_id": len(people) + 1,
                    "language_code": noisy["lang"], "country": noisy["country"],
                    "city": noisy["city"], "subscribed_at": NOW - timedelta(days=200),
                    "last_seen_at": NOW, "attributes": {"age_band": noisy["age_band"]},
                }
            )  # fmt: skip
            groups.append(group)
    result = await session.execute(
        insert(Subscriber).returning(Subscriber.id, sort_by_parameter_order=True), people
    )
    ids = list(result.scalars().all())
    tags, events, stages = [], [], []
    for subscriber_id, group in zip(ids, groups, strict=True):
        tags.append({"subscriber_id": subscriber_id, "tag": group.interest, "added_at": NOW})
        stages.append(
            {"subscriber_id": subscriber_id, "stage": group.stage, "evidence_at": NOW,
             "changed_at": NOW}
        )  # fmt: skip
        for kind, count in group.kinds.items():
            for number in range(max(0, count + rng.randint(-1, 1))):
                at = NOW - timedelta(days=1 + 3 * number, hours=(24 - group.hour) % 24)
                payload = {"tags": [group.link_tag]} if kind == "link_click" else {}
                events.append(
                    {"subscriber_id": subscriber_id, "type": kind, "occurred_at": at,
                     "payload": payload}
                )  # fmt: skip
    await session.execute(insert(SubscriberTag), tags)
    await session.execute(insert(Event), events)
    await session.execute(insert(LadderStage), stages)
    members = dict(zip(ids, (group.name for group in groups), strict=True))
    if buyers_in is not None:
        await _buyers([i for i, name in members.items() if name == buyers_in], session)
        await refresh_subscriber_purchases(session)  # as the CRM sync does
    await session.commit()
    return members


async def _buyers(group_ids: list[int], session: AsyncSession) -> None:
    for subscriber_id in group_ids[: len(group_ids) // 2]:
        customer = Customer(
            source="shop", external_id=str(subscriber_id), attributes={},
            subscriber_id=subscriber_id, created_at=NOW, updated_at=NOW, orders_count=3,
            total_spent=90.0, last_order_at=NOW - timedelta(days=5),
        )  # fmt: skip
        session.add(customer)
        await session.flush()
        session.add(
            RfmScore(
                customer_id=customer.id, last_ordered_at=NOW - timedelta(days=5), frequency=3,
                monetary=90.0, r=5, f=4, m=4, segment="champions", changed_at=NOW,
            )
        )  # fmt: skip
