"""Reports benchmark: the campaign report (funnel, attribution, lift, A/B) on one
campaign of 1,000,000 deliveries, and the audience statistics.

    python -m benchmarks.reports           # 1,000,000 subscribers and deliveries,
                                           # ~1,900,000 events, 300,000 orders
    python -m benchmarks.reports --small   # 50,000 deliveries, the rest scaled down

Prints one JSON line. The same generated data goes into SQLite (a temporary file) and into
PostgreSQL when reachable at --postgres-url (a database created for the run and dropped
after it). Loading is not timed. Timed, per database:
- `campaign_report` (first run, and best of 3), target under 10 s on PostgreSQL;
- the baseline, measured in the same run: a bare COUNT(*) GROUP BY run, target, variant
  and status over the deliveries table (best of 3); the report's ratio to it, target
  within 8x (issue 26);
- `audience_stats`;
- the floor under a report that answers each question with a join: the five joins of the
  campaign's deliveries it makes (reads, clicks, replies and leaving, attributed orders,
  the lift's orders) run bare, counted per run, target and variant with no window,
  ranking or further grouping (each the best of 3), plus the baseline for the tally;
  its ratio to the baseline, and the report's ratio to it.
"""

import argparse
import asyncio
import json
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import migrations
from benchmarks.segments import keep_purchase_sums, load, on_postgres, timed
from broadcasts.campaigns import save_campaign
from broadcasts.models import Delivery, DeliveryStatus, Run, RunStatus
from broadcasts.reports import audience_stats, campaign_report
from broadcasts.reports.outcomes import CHURN_EVENTS
from broadcasts.spec import parse_campaign
from core.db import create_engine, create_sessionmaker, for_audience_queries
from core.inferred_reads import SIGNS_OF_READING
from core.models import Event, EventType
from crm_sync.models import Customer, Order

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
NOW = pd.Timestamp("2026-11-01 12:00", tz="UTC").to_pydatetime()
SENT = NOW - timedelta(days=10)
CAMPAIGN = """
name: bench
goal: conversions
holdout: 10
audience:
  - query: "lang = es"
    label: spanish
    variants:
      - {name: a, split: 50, text: "Hola A"}
      - {name: b, split: 50, text: "Hola B"}
default:
  variants:
    - {name: a, split: 50, text: "Hello A"}
    - {name: b, split: 50, text: "Hello B"}
"""
STATUSES = {  # delivery status -> (share, exclusion reason)
    "sent": (0.85, None),
    "excluded": (0.10, "holdout"),
    "failed": (0.02, "chat not found"),
    "blocked": (0.01, None),
    "unknown": (0.01, None),
    "cancelled": (0.01, None),
}
SIGNS = ["message", "button", "reaction", "link_click"]
SOURCES = np.array(["blog", "instagram", "vk", None])


def _after(random: np.random.Generator, start: pd.Series, hours: float) -> pd.Series:
    seconds = random.integers(1, int(hours * 3600), size=len(start))
    return start + pd.to_timedelta(seconds, unit="s")


def generate(
    deliveries: int, orders: int, customers: int, variants: list[int], targets: list[int]
) -> dict[str, pd.DataFrame]:
    """Subscribers, one delivery each in run 1, their events, customers and orders."""
    random = np.random.default_rng(11)
    ids = np.arange(1, deliveries + 1)
    people = pd.DataFrame(
        {
            "id": ids, "telegram_id": ids, "chat_id": ids,
            "status": random.choice(["active", "unsubscribed", "blocked"], deliveries,
                                    p=[0.9, 0.07, 0.03]),
            "source": SOURCES[random.integers(0, len(SOURCES), deliveries)],
            "subscribed_at": pd.Timestamp(NOW) - pd.to_timedelta(
                random.integers(0, 400 * 86_400, deliveries), unit="s"),
            "last_seen_at": pd.Timestamp(NOW), "attributes": "{}",
        }
    )  # fmt: skip
    names = list(STATUSES)
    status = np.array(names)[
        random.choice(len(names), deliveries, p=[STATUSES[name][0] for name in names])
    ]
    sent = status == "sent"
    offsets = pd.to_timedelta(random.integers(1, 2 * 3600, deliveries), unit="s")
    sent_at = (pd.Timestamp(SENT) + pd.Series(offsets)).where(sent)
    variant = random.integers(0, 4, deliveries)
    outbox = pd.DataFrame(
        {
            "id": ids, "run_id": 1, "subscriber_id": ids,
            "target_id": np.array(targets)[variant // 2], "variant_id": np.array(variants)[variant],
            "status": status,
            "reason": pd.Series(status).map({n: r for n, (_, r) in STATUSES.items()}).to_numpy(),
            "sent_at": sent_at, "claimed_at": sent_at, "attempts": 1,
        }
    )  # fmt: skip
    tables = {
        "subscribers": people,
        "deliveries": outbox,
        "events": _events(random, outbox[sent]),
    }
    return tables | _shop(random, orders, customers, deliveries)


def _events(random: np.random.Generator, sent: pd.DataFrame) -> pd.DataFrame:
    """Signs of reading after 40 % of sends (a quarter of them clicks on the delivery),
    blocks and unsubscribes after 1 %, and as many events again from before the send."""
    readers = sent.sample(frac=0.4, random_state=1)
    kind = random.choice(SIGNS, len(readers))
    reads = pd.DataFrame(
        {
            "subscriber_id": readers["subscriber_id"].to_numpy(), "type": kind,
            "occurred_at": _after(random, readers["sent_at"].reset_index(drop=True), 96),
            "delivery_id": readers["id"].astype(object).where(kind == "link_click").to_numpy(),
        }
    )  # fmt: skip
    leavers = sent.sample(frac=0.01, random_state=2)
    churn = pd.DataFrame(
        {
            "subscriber_id": leavers["subscriber_id"].to_numpy(),
            "type": random.choice(["blocked", "unsubscribed"], len(leavers)),
            "occurred_at": _after(random, leavers["sent_at"].reset_index(drop=True), 96),
            "delivery_id": None,
        }
    )
    before = pd.DataFrame(
        {
            "subscriber_id": random.integers(1, len(sent) + 1, len(sent)),
            "type": random.choice([*SIGNS, "read", "start"], len(sent)),
            "occurred_at": pd.Timestamp(SENT) - pd.to_timedelta(
                random.integers(1, 90 * 86_400, len(sent)), unit="s"),
            "delivery_id": None,
        }
    )  # fmt: skip
    log = pd.concat([reads, churn, before], ignore_index=True)
    log["payload"] = "{}"
    return log


def _shop(
    random: np.random.Generator, orders: int, customers: int, subscribers: int
) -> dict[str, pd.DataFrame]:
    """Customers matched to random subscribers; orders from 30 days before the send to
    20 days after it, 3 % refunded, a few with a UTM campaign (ours or another)."""
    clients = pd.DataFrame(
        {
            "id": np.arange(1, customers + 1), "source": "shop",
            "external_id": np.char.add("C", np.arange(1, customers + 1).astype(str)),
            "subscriber_id": random.choice(np.arange(1, subscribers + 1), customers,
                                           replace=False),
            "attributes": "{}", "created_at": pd.Timestamp(NOW), "updated_at": pd.Timestamp(NOW),
        }
    )  # fmt: skip
    refund = random.random(orders) < 0.03
    sales = pd.DataFrame(
        {
            "source": "shop",
            "external_id": np.char.add("O", np.arange(1, orders + 1).astype(str)),
            "customer_id": random.integers(1, customers + 1, orders),
            "ordered_at": pd.Timestamp(SENT) + pd.to_timedelta(
                random.integers(-30 * 86_400, 20 * 86_400, orders), unit="s"),
            "amount": np.round(random.gamma(2.0, 40.0, orders), 2), "currency": "EUR",
            "utm_campaign": np.array(["bench", "other", None])[
                random.choice(3, orders, p=[0.02, 0.02, 0.96])
            ],
            "counts_as_purchase": ~refund,
            "created_at": pd.Timestamp(NOW), "updated_at": pd.Timestamp(NOW),
        }
    )  # fmt: skip
    return {"customers": clients, "orders": sales}


async def _campaign(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, list[int], list[int]]:
    """The campaign and its run 1; the campaign id, its target and variant ids."""
    async with sessions() as session:
        campaign = await save_campaign(session, spec=parse_campaign(CAMPAIGN), now=NOW)
        session.add(
            Run(id=1, campaign_id=campaign.id, status=RunStatus.DONE, scheduled_for=SENT,
                started_at=SENT)
        )  # fmt: skip
        await session.commit()
        targets = [target.id for target in campaign.targets]
        variants = [variant.id for target in campaign.targets for variant in target.variants]
        return campaign.id, targets, variants


async def _baseline(session: AsyncSession) -> int:
    key = (Delivery.run_id, Delivery.target_id, Delivery.variant_id, Delivery.status)
    rows = await session.execute(select(*key, func.count()).group_by(*key))
    return len(rows.all())


def _bare_joins() -> list[Select[int, int, int, int]]:
    """The report's joins of the deliveries with the events and the orders, as bare counts
    per run, target and variant over the same ranges of events and orders (since the
    send), with no window, ranking or further grouping: the sent deliveries read
    after (a semi-join), the clicks on deliveries, the replies and leaving after a send,
    the orders after a send to their customer, and the sent or held-out deliveries to a
    customer with an order."""
    sent = Delivery.status == DeliveryStatus.SENT
    after_send = and_(Event.occurred_at >= SENT, Event.occurred_at >= Delivery.sent_at)
    signs = [kind.value for kind in SIGNS_OF_READING]
    later = [kind.value for kind in (EventType.MESSAGE, *CHURN_EVENTS)]
    by_subscriber = Event.subscriber_id == Delivery.subscriber_id
    to_customer = Customer.subscriber_id == Delivery.subscriber_id
    ordered = Order.ordered_at.between(SENT, NOW)
    key = (Delivery.run_id, Delivery.target_id, Delivery.variant_id)
    count = select(*key, func.count()).group_by(*key)
    return [
        count.select_from(Delivery).where(
            sent, exists().where(by_subscriber, Event.type.in_(signs), after_send)
        ),
        count.select_from(Event).join(Delivery, Delivery.id == Event.delivery_id).where(
            Event.type == EventType.LINK_CLICK.value
        ),
        count.select_from(Delivery).join(Event, by_subscriber).where(
            sent, Event.type.in_(later), after_send
        ),
        count.select_from(Order).join(Customer, Customer.id == Order.customer_id)
        .join(Delivery, to_customer).where(sent, ordered, Delivery.sent_at <= Order.ordered_at),
        count.select_from(Delivery).join(Customer, to_customer)
        .join(Order, Order.customer_id == Customer.id).where(
            or_(sent, Delivery.status == DeliveryStatus.EXCLUDED), ordered
        ),
    ]  # fmt: skip


async def _floor(session: AsyncSession) -> float:
    """Seconds of the bare joins, each its best of 3."""
    seconds = 0.0
    for statement in _bare_joins():
        times = [(await timed(session.execute(statement)))[1] for _ in range(3)]
        seconds += min(times)
    return seconds


async def measure(
    url: str, sizes: tuple[int, int, int], sqlite_path: Path | None
) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        await migrations.upgrade(engine)
        sessions = create_sessionmaker(engine)
        campaign_id, targets, variants = await _campaign(sessions)
        tables = generate(*sizes, variants=variants, targets=targets)
        result: dict[str, Any] = {"load_seconds": round(await load(engine, tables, sqlite_path), 1)}
        await keep_purchase_sums(engine)
        baselines, reports = [], []
        for _ in range(3):
            async with sessions() as session:
                baselines.append((await timed(_baseline(session)))[1])
            async with sessions() as session:
                report, seconds = await timed(
                    campaign_report(session, campaign_id=campaign_id, now=NOW)
                )
                reports.append(seconds)
        async with sessions() as session:
            _, stats_seconds = await timed(audience_stats(session, now=NOW))
        async with sessions() as session:
            await for_audience_queries(session)  # as the report has
            floor = min(baselines) + await _floor(session)
        totals = report.totals
        result |= {
            "report_seconds_first": reports[0],
            "report_seconds_best": min(reports),
            "baseline_group_by_seconds_best": min(baselines),
            "report_ratio_to_baseline": round(min(reports) / min(baselines), 1),
            "audience_stats_seconds": stats_seconds,
            "floor_seconds": floor,
            "floor_ratio_to_baseline": round(floor / min(baselines), 1),
            "report_ratio_to_floor": round(min(reports) / floor, 2),
            "funnel_rows": len(report.rows),
            "sent": totals.sent, "read": totals.read, "clicked": totals.clicked,
            "churned": totals.churned, "conversions": totals.conversions,
            "revenue": round(totals.revenue, 2), "lift_targets": len(report.lift),
        }  # fmt: skip
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="50,000 deliveries")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    options = parser.parse_args()
    sizes = (50_000, 15_000, 5_000) if options.small else (1_000_000, 300_000, 100_000)
    results: dict[str, Any] = {
        "benchmark": "reports",
        "deliveries": sizes[0],
        "orders": sizes[1],
        "customers": sizes[2],
    }
    with tempfile.TemporaryDirectory(prefix="segbot-bench-") as work:
        path = Path(work) / "bench.db"
        results["sqlite"] = asyncio.run(measure(f"sqlite+aiosqlite:///{path}", sizes, path))
        results["postgresql"] = asyncio.run(
            on_postgres(options.postgres_url, lambda url: measure(url, sizes, None))
        )
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
