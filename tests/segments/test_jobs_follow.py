"""After a CRM sync, segments on purchases, RFM and stages follow the subscribers the sync
and the rescore changed, with no full refresh."""

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Event, EventType, Subscriber
from crm_sync.connectors import FilesConnector
from crm_sync.models import Customer
from crm_sync.worker import run_sync
from segments.config import load_segments_config
from segments.job_changes import changed_by_rescore
from segments.jobs import after_crm_sync
from segments.membership import refresh_memberships
from segments.models import LadderStage, RfmScore
from segments.rules.dependencies import Fact, FactKind
from segments.saved import save_segment
from tests.crm_sync.shop import CUSTOMER_HEADER, ORDER_HEADER, RULES, T0, SteppingClock, write_csv

CONFIG = load_segments_config({})
CUSTOMERS = [("c1", "Ann", "+34600000001", ""), ("c2", "Bo", "+34600000002", "")]
ORDER = ("2026-10-30T10:00:00Z", "120.00", "EUR", "completed")


def person(number: int, phone: str | None = None) -> Subscriber:
    return Subscriber(
        telegram_id=number,
        chat_id=number,
        phone=phone,
        subscribed_at=T0,
        last_seen_at=T0,
        attributes={},
    )


async def sync(
    sessionmaker: async_sessionmaker[AsyncSession],
    folder: Path,
    orders: list[tuple[str, ...]],
    clock: SteppingClock,
) -> None:
    connector = FilesConnector(
        name="shop",
        customers=write_csv(folder / "customers.csv", CUSTOMER_HEADER, CUSTOMERS),
        orders=write_csv(folder / "orders.csv", ORDER_HEADER, orders),
        rules=RULES,
    )
    hook = after_crm_sync(sessionmaker, config=CONFIG, clock=clock)
    summary = await run_sync(
        sessionmaker=sessionmaker, connector=connector, on_synced=hook, clock=clock
    )
    assert summary.status == "succeeded", summary.error


async def test_a_synced_first_order_enters_the_buyers_segment(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    ann, bo = (person(number, phone=f"+3460000000{number}") for number in (1, 2))
    session.add_all([ann, bo])
    await session.commit()
    clock = SteppingClock()
    await sync(sessionmaker, tmp_path, [("o1", "c1", *ORDER)], clock)  # ann bought
    for name, rule in {"buyers": "buyer", "big": "spent > 200", "all": "not lang = xx"}.items():
        await save_segment(session, name=name, rule_text=rule, now=clock())
    await refresh_memberships(sessionmaker, now=clock())  # the baseline: ann is a buyer

    await sync(sessionmaker, tmp_path, [("o1", "c1", *ORDER), ("o2", "c2", *ORDER)], clock)

    crossings = await session.execute(
        select(Event.subscriber_id, Event.payload["segment"].as_string()).where(
            Event.type.in_([EventType.SEGMENT_ENTERED, EventType.SEGMENT_LEFT])
        )
    )
    assert crossings.all() == [(bo.id, "buyers")]  # bo's 120 is not over 200


async def test_a_rescore_names_whose_rfm_or_stage_it_changed(session: AsyncSession) -> None:
    people = [person(number) for number in (1, 2, 3)]
    session.add_all(people)
    await session.flush()
    customers = [
        Customer(
            source="shop",
            external_id=str(number),
            attributes={},
            subscriber_id=who.id,
            created_at=T0,
            updated_at=T0,
        )
        for number, who in enumerate(people)
    ]
    session.add_all(customers)
    await session.flush()
    for customer, changed_at in zip(customers[:2], (T0, T0.replace(year=2025)), strict=True):
        session.add(
            RfmScore(
                customer_id=customer.id,
                last_ordered_at=T0,
                frequency=1,
                monetary=1.0,
                r=5,
                f=1,
                m=1,
                segment="new_customers",
                changed_at=changed_at,
            )
        )
    session.add(LadderStage(subscriber_id=people[2].id, stage=2, evidence_at=T0, changed_at=T0))
    await session.commit()

    assert await changed_by_rescore(session, since=T0) == {
        people[0].id: frozenset({Fact(FactKind.RFM)}),
        people[2].id: frozenset({Fact(FactKind.STAGE)}),
    }
