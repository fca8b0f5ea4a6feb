from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Subscriber
from crm_sync.facts import refresh_facts
from crm_sync.models import Customer, Order
from crm_sync.worker import SyncSummary
from segments.config import load_segments_config
from segments.jobs import after_crm_sync, refresh_all, schedule_refresh
from segments.models import RfmScore
from segments.saved import save_segment

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CONFIG = load_segments_config({"rfm": {"min_customers": 1}})  # one buyer is scored


def clock() -> datetime:
    return NOW


async def a_buyer(session: AsyncSession) -> None:
    subscriber = Subscriber(
        telegram_id=1, chat_id=1, subscribed_at=NOW, last_seen_at=NOW, attributes={}
    )
    session.add(subscriber)
    await session.flush()
    customer = Customer(
        source="shop", external_id="1", attributes={}, subscriber_id=subscriber.id,
        orders_count=1, total_spent=10.0, last_order_at=NOW, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    session.add(customer)
    await session.flush()
    session.add(
        Order(
            source="shop", external_id="1", customer_id=customer.id, ordered_at=NOW, amount=10.0,
            created_at=NOW, updated_at=NOW,
        )
    )  # fmt: skip
    await refresh_facts(session, customer_ids=[customer.id])  # as the CRM sync does
    await session.commit()


async def scored(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(RfmScore)) or 0)


async def test_the_crm_hook_rescores_after_a_successful_sync_only(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    await a_buyer(session)
    hook = after_crm_sync(sessionmaker, config=CONFIG, clock=clock)
    await hook(SyncSummary(run_id=1, connector="shop", status="failed", streams={}))
    assert await scored(session) == 0
    await hook(SyncSummary(run_id=2, connector="shop", status="succeeded", streams={}))
    assert await scored(session) == 1


async def test_refresh_all_runs_every_step(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    await a_buyer(session)
    await save_segment(session, name="ready", rule_text="stage = most_aware and buyer", now=NOW)
    outcome = await refresh_all(sessionmaker, config=CONFIG, clock=clock)
    assert outcome.rfm.customers == 1
    assert outcome.ladder.stages["most_aware"] == 1  # a CRM order is most_aware evidence
    assert outcome.activity.levels["dormant"] == 1
    assert [(m.segment, m.size) for m in outcome.memberships] == [("ready", 1)]


async def test_the_refresh_runs_on_the_configured_interval(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    config = load_segments_config({"segments": {"refresh_every_minutes": 5}})
    scheduler = AsyncIOScheduler()
    job_id = schedule_refresh(scheduler, sessionmaker=sessionmaker, config=config, clock=clock)
    (job,) = scheduler.get_jobs()
    assert (job.id, job.trigger.interval, job.max_instances) == (job_id, timedelta(minutes=5), 1)
