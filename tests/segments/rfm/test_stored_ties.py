"""Stored RFM scores on the test database: ties stored as worked out by hand, the same on
every rescore, scores of the old id tie-break rewritten on the next rescore, and below the
minimum nothing stored, with the reason told by the rescore and logged by the jobs."""

import logging
from datetime import UTC, datetime

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import ConfigError
from crm_sync.worker import SyncSummary
from segments.config import load_segments_config
from segments.jobs import after_crm_sync, refresh_all, schedule_refresh
from segments.models import RfmRun, RfmScore
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP, TooFewCustomers
from segments.rfm.store import rescore_rfm, rfm_table
from segments.rules import parse
from segments.rules.compiler import subscriber_ids
from tests.segments.rfm.ties import AS_OF, CUSTOMERS, SEGMENTS, SEVEN, F, M, R, add_shop

NOW = datetime(2026, 11, 1, 18, 0, tzinfo=UTC)  # on AS_OF


async def stored(session: AsyncSession, column: str) -> dict[int, object]:
    """A stored column by customer number (the external id)."""
    table = await rfm_table(session)
    numbers = [int(external_id) for external_id in table["external_id"]]
    return dict(zip(numbers, table[column].tolist(), strict=True))


async def test_stored_scores_of_a_shop_with_ties_are_the_hand_computed_ones(
    session: AsyncSession,
) -> None:
    await add_shop(session, CUSTOMERS, now=NOW)
    outcome = await rescore_rfm(session, as_of=AS_OF, now=NOW, min_customers=10)
    assert (outcome.customers, outcome.too_few) == (10, None)
    assert await stored(session, "r") == R
    assert await stored(session, "f") == F
    assert await stored(session, "m") == M
    assert await stored(session, "segment") == SEGMENTS
    assert outcome.segments == {"promising": 3, "loyal": 3, "hibernating": 3, "cant_lose": 1}


async def test_seven_identical_customers_are_stored_with_one_score(
    session: AsyncSession,
) -> None:
    await add_shop(session, SEVEN, now=NOW)
    await rescore_rfm(session, as_of=AS_OF, now=NOW, min_customers=7)
    for column in ("r", "f", "m"):
        assert set((await stored(session, column)).values()) == {1}
    assert set((await stored(session, "segment")).values()) == {"hibernating"}


async def test_rescoring_again_gives_the_same_scores_and_writes_nothing(
    session: AsyncSession,
) -> None:
    await add_shop(session, CUSTOMERS, now=NOW)
    first = await rescore_rfm(session, as_of=AS_OF, now=NOW, min_customers=10)
    before = await rfm_table(session)
    for _ in range(2):
        again = await rescore_rfm(session, as_of=AS_OF, now=NOW, min_customers=10)
        assert (again.changed, again.segments) == (0, first.segments)
        assert (await rfm_table(session)).equals(before)


async def test_scores_of_the_old_id_tie_break_are_rewritten_on_the_next_rescore(
    session: AsyncSession,
) -> None:
    ids = await add_shop(session, SEVEN, now=NOW)
    await rescore_rfm(session, as_of=AS_OF, now=NOW, min_customers=7)
    # What the id tie-break stored for seven equal customers: 1,1,2,3,3,4,5 by id.
    old = {1: 1, 2: 1, 3: 2, 4: 3, 5: 3, 6: 4, 7: 5}
    for number, value in old.items():
        name = DEFAULT_SEGMENT_MAP.name_of(value, value)
        await session.execute(
            update(RfmScore)
            .where(RfmScore.customer_id == ids[number])
            .values(r=value, f=value, m=value, segment=name)
        )
    await session.commit()
    outcome = await rescore_rfm(session, as_of=AS_OF, now=NOW, min_customers=7)
    assert outcome.changed == 5  # the two that scored 1 already are left alone
    assert await stored(session, "r") == dict.fromkeys(old, 1)
    assert set((await stored(session, "segment")).values()) == {"hibernating"}


async def test_below_the_minimum_nothing_is_stored_and_old_scores_are_cleared(
    session: AsyncSession,
) -> None:
    await add_shop(session, CUSTOMERS, now=NOW)
    outcome = await rescore_rfm(session, as_of=AS_OF, now=NOW)  # the default minimum, 20
    assert outcome.too_few == TooFewCustomers(customers=10, minimum=20)
    assert str(outcome.too_few) == "RFM needs at least 20 customers with orders; there are 10"
    assert (outcome.customers, outcome.segments, outcome.changed) == (0, {}, 0)
    assert (await rfm_table(session)).empty

    await rescore_rfm(session, as_of=AS_OF, now=NOW, min_customers=10)
    assert len(await rfm_table(session)) == 10
    # The minimum is raised: the scores go, and no rule matches on them any more.
    cleared = await rescore_rfm(session, as_of=AS_OF, now=NOW, min_customers=11)
    assert (cleared.customers, cleared.changed) == (0, 10)
    assert (await rfm_table(session)).empty
    assert (await session.scalars(subscriber_ids(parse("rfm is set"), now=NOW))).all() == []
    runs = (await session.execute(select(RfmRun.customers, RfmRun.changed))).all()
    assert sorted(tuple(run) for run in runs) == [(0, 0), (0, 10), (10, 10)]


async def test_the_jobs_log_too_few_customers_and_go_on(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await add_shop(session, SEVEN, now=NOW)
    config = load_segments_config({})
    scheduler = AsyncIOScheduler()
    schedule_refresh(scheduler, sessionmaker=sessionmaker, config=config, clock=lambda: NOW)
    (job,) = scheduler.get_jobs()
    hook = after_crm_sync(sessionmaker, config=config, clock=lambda: NOW)
    with caplog.at_level(logging.INFO, logger="segments.jobs"):
        await job.func(**job.kwargs)  # what the scheduler runs every few minutes
        await hook(SyncSummary(run_id=1, connector="shop", status="succeeded", streams={}))
    unscored = (
        "RFM not scored: RFM needs at least 20 customers with orders; there are 7 "
        "(rfm.min_customers)"
    )
    logged = [(record.levelname, record.getMessage()) for record in caplog.records]
    assert logged[0] == ("WARNING", unscored)
    assert logged[1][1].startswith("segments refreshed: 0 customers scored")  # and went on
    assert logged[-1] == ("WARNING", unscored)
    assert (await rfm_table(session)).empty
    configured = load_segments_config({"rfm": {"min_customers": 7}})
    outcome = await refresh_all(sessionmaker, config=configured, clock=lambda: NOW)
    assert outcome.rfm.customers == 7


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (0, "rfm.min_customers: Input should be greater than or equal to 1"),
        ("twenty", "rfm.min_customers: Input should be a valid integer"),
        (2.5, "rfm.min_customers: Input should be a valid integer"),
    ],
)
def test_the_minimum_must_be_a_whole_number_of_customers(value: object, problem: str) -> None:
    assert load_segments_config({}).rfm.min_customers == 20
    with pytest.raises(ConfigError) as raised:
        load_segments_config({"rfm": {"min_customers": value}})
    assert str(raised.value) == problem
