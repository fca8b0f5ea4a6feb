"""A planted population of four kinds of shoppers that differ only in age band, interests,
purchase totals and activity, with noise, stored in the database in bulk.

Everything else (language, country, gender, when they subscribed, the hours they are
active at, how often and how recently they ordered) is drawn the same way for everyone, so
it only blurs the groups. Noise, at rate `noise`: that share of subscribers has another
group's age band, and that share carries another group's interest as well as their own;
each subscriber's purchase total and activity rates vary around their group's level by a
log-normal factor of spread `noise`, and event counts are Poisson draws of those rates.
Purchase totals reach the features the way the CRM sync's do: as customers' purchase
facts, then an RFM rescore.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Event, EventType, Subscriber, SubscriberTag
from crm_sync.facts import refresh_subscriber_purchases
from crm_sync.models import Customer
from segments.rfm.store import rescore_rfm

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
GROUPS = 4
AGE_BANDS = ("under_25", "25_34", "35_44", "45_plus")
INTERESTS = ("interest:deals", "interest:news", "interest:events", "interest:guides")
SPEND = (25.0, 80.0, 250.0, 800.0)  # typical purchase total of each group
KINDS = (EventType.READ, EventType.LINK_CLICK, EventType.MESSAGE, EventType.REACTION)
ACTIVITY = np.array(  # events per week of each kind (columns as KINDS), by group
    [[1.0, 1.5, 0.05, 0.05], [3.0, 0.2, 0.05, 0.05], [0.5, 0.05, 1.0, 1.0], [0.3, 0.05, 0.05, 0.05]]
)
# Traits each group's profile is expected to show, as segments.ai trait keys.
PLANTED_TRAITS = (
    {"age_band:under_25", "tag:interest:deals", "clicks:high"},
    {"age_band:25_34", "tag:interest:news", "reads:high"},
    {"age_band:35_44", "tag:interest:events", "replies:high"},
    {"age_band:45_plus", "tag:interest:guides", "monetary:high"},
)
LANGS, COUNTRIES, GENDERS = ("en", "es", "ru"), ("US", "ES", "DE"), ("female", "male")
Ints = np.ndarray[Any, np.dtype[np.int64]]
Floats = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Population:
    group: Ints  # planted group of each subscriber, 0-3
    ids: list[int]  # their subscriber ids, in the same order

    def of(self, subscriber_ids: list[int]) -> list[int]:
        """The planted group of each of `subscriber_ids`."""
        planted = dict(zip(self.ids, self.group.tolist(), strict=True))
        return [planted[i] for i in subscriber_ids]


def _other(rng: np.random.Generator, group: Ints, noise: float) -> Ints:
    """`group`, with a share `noise` of it replaced by another group at random."""
    noisy = rng.random(len(group)) < noise
    return np.where(noisy, (group + rng.integers(1, GROUPS, len(group))) % GROUPS, group)


async def plant_shoppers(
    session: AsyncSession, *, per_group: int = 1000, noise: float = 0.3, seed: int = 1
) -> Population:
    """Store `GROUPS` x `per_group` subscribers with their tags, events and purchases,
    rescore RFM, commit; the planted group of each."""
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(GROUPS), per_group)
    n = len(group)
    tenure = rng.uniform(30, 60, n)
    age = _other(rng, group, noise)
    people = [
        {
            "telegram_id": i + 1, "chat_id": i + 1, "language_code": str(rng.choice(LANGS)),
            "country": str(rng.choice(COUNTRIES)), "subscribed_at": NOW - timedelta(days=days),
            "last_seen_at": NOW,
            "attributes": {"age_band": AGE_BANDS[band], "gender": str(rng.choice(GENDERS))},
        }
        for i, (days, band) in enumerate(zip(tenure.tolist(), age.tolist(), strict=True))
    ]  # fmt: skip
    result = await session.execute(
        insert(Subscriber).returning(Subscriber.id, sort_by_parameter_order=True), people
    )
    ids = list(result.scalars().all())
    extra = _other(rng, group, noise)
    tags = [
        {"subscriber_id": sid, "tag": INTERESTS[interest], "added_at": NOW}
        for sid, own, more in zip(ids, group.tolist(), extra.tolist(), strict=True)
        for interest in sorted({own, more})
    ]
    await session.execute(insert(SubscriberTag), tags)
    rates = ACTIVITY[group] * rng.lognormal(0.0, noise, (n, 1))
    await session.execute(insert(Event), _events(rng, ids, rates, tenure))
    totals = np.array(SPEND)[group] * rng.lognormal(0.0, noise, n)
    await session.execute(insert(Customer), _customers(rng, ids, totals))
    await refresh_subscriber_purchases(session)
    await session.commit()
    await rescore_rfm(session, as_of=NOW.date(), now=NOW)
    return Population(group=group, ids=ids)


def _events(
    rng: np.random.Generator, ids: list[int], rates: Floats, tenure: Floats
) -> list[dict[str, Any]]:
    """Poisson counts of each kind over each subscriber's tenure, at random moments."""
    rows: list[dict[str, Any]] = []
    for column, kind in enumerate(KINDS):
        counts = rng.poisson(rates[:, column] * tenure / 7)
        owners = np.repeat(np.arange(len(ids)), counts)
        ago = rng.uniform(0, tenure[owners])
        rows += [
            {"subscriber_id": ids[owner], "type": kind.value, "payload": {},
             "occurred_at": NOW - timedelta(days=days)}
            for owner, days in zip(owners.tolist(), ago.tolist(), strict=True)
        ]  # fmt: skip
    return rows


def _customers(rng: np.random.Generator, ids: list[int], totals: Floats) -> list[dict[str, Any]]:
    """One customer per subscriber, with the purchase facts the CRM sync keeps."""
    orders = rng.integers(1, 5, len(ids))
    last = rng.uniform(1, 200, len(ids))
    return [
        {
            "source": "shop", "external_id": str(sid), "attributes": {}, "subscriber_id": sid,
            "created_at": NOW, "updated_at": NOW, "orders_count": count,
            "total_spent": round(total, 2), "average_order_value": round(total / count, 2),
            "first_order_at": NOW - timedelta(days=days + 30),
            "last_order_at": NOW - timedelta(days=days),
        }
        for sid, total, count, days in zip(
            ids, totals.tolist(), orders.tolist(), last.tolist(), strict=True
        )
    ]  # fmt: skip
