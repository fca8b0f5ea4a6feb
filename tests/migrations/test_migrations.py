"""The migrations and the models describe the same schema, and migrations run both ways."""

from datetime import UTC, date, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Connection,
    Date,
    column,
    func,
    insert,
    inspect,
    select,
    table,
    true,
    update,
)

import migrations
from broadcasts.claims import settle
from broadcasts.models import Delivery, DeliveryStatus
from broadcasts.planner import plan_run
from broadcasts.runs import progress
from core.db import UtcDateTime, create_engine, create_sessionmaker
from migrations.metadata import metadata
from segments.rfm.store import rfm_table
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from


def _schema_diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def test_migrated_schema_matches_the_models(fresh_database_url: str) -> None:
    engine = create_engine(fresh_database_url)
    try:
        await migrations.upgrade(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(_schema_diff) == []
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(fresh_database_url: str) -> None:
    engine = create_engine(fresh_database_url)
    try:
        await migrations.upgrade(engine)
        assert await migrations.current_revision(engine) == migrations.head_revision()
        await migrations.downgrade(engine, "base")
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) == set()
        assert await migrations.current_revision(engine) is None
        await migrations.upgrade(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) == set(metadata.tables)
    finally:
        await engine.dispose()


async def test_rfm_scores_stored_before_runs_keep_their_day_and_last_order(
    fresh_database_url: str,
) -> None:
    day, last_order = date(2026, 11, 1), datetime(2026, 10, 20, 9, 30, tzinfo=UTC)
    customers = table(
        "customers", *(column(name) for name in ("id", "source", "external_id", "attributes")),
        column("created_at", UtcDateTime()), column("updated_at", UtcDateTime()),
        column("last_order_at", UtcDateTime()),
    )  # fmt: skip
    scores = table(
        "rfm_scores",
        *(column(name) for name in ("customer_id", "recency_days", "frequency", "monetary")),
        *(column(name) for name in ("r", "f", "m", "segment")),
        column("as_of", Date()), column("scored_at", UtcDateTime()),
    )  # fmt: skip
    engine = create_engine(fresh_database_url)
    try:
        await migrations.upgrade(engine, "0008")
        async with engine.begin() as connection:
            await connection.execute(
                insert(customers),
                [
                    {"id": number, "source": "shop", "external_id": str(number),
                     "attributes": "{}", "created_at": last_order, "updated_at": last_order,
                     "last_order_at": last_order if number == 1 else None}
                    for number in (1, 2)
                ],
            )  # fmt: skip
            await connection.execute(
                insert(scores),
                [
                    {"customer_id": number, "recency_days": 12, "frequency": 2,
                     "monetary": 10.5, "r": 3, "f": 2, "m": 4, "segment": "about_to_sleep",
                     "as_of": day, "scored_at": last_order}
                    for number in (1, 2)
                ],
            )  # fmt: skip
        await migrations.upgrade(engine)
        async with create_sessionmaker(engine)() as session:
            stored = await rfm_table(session)
        # Customer 2 has no last order to count recency from: dropped until the next rescore.
        assert stored[["customer_id", "recency_days", "segment"]].values.tolist() == [
            [1, 12, "about_to_sleep"]
        ]
        assert stored["as_of"].tolist() == [day]
    finally:
        await engine.dispose()


async def test_claims_made_before_0012_count_as_attempted(fresh_database_url: str) -> None:
    """A delivery claimed by a sender of before 0012 may have gone out: it stays so."""
    deliveries = table(
        "deliveries", column("id"), column("status"), column("claimed_at", UtcDateTime())
    )
    engine = create_engine(fresh_database_url)
    try:
        await migrations.upgrade(engine)
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as session:
            await add_subscribers(session, 2)
            campaign = await campaign_from(session, "name: old\ndefault: {text: Hi}\n")
            plan = await plan_run(session, campaign=campaign, now=NOW)
        await migrations.downgrade(engine, "0011")
        async with engine.begin() as connection:
            first = await connection.scalar(select(func.min(deliveries.c.id)))
            await connection.execute(
                update(deliveries)
                .where(deliveries.c.id == first)
                .values(status="sending", claimed_at=NOW)
            )
        await migrations.upgrade(engine)
        async with sessionmaker() as session:
            claimed = await session.scalar(
                select(Delivery.attempted_at).where(Delivery.id == first)
            )
            assert claimed == NOW
            settled = await settle(session, true())
            assert (settled.unknown, settled.requeued) == (1, 0)
            progress_now = await progress(session, run_id=plan.run.id)
            assert progress_now.counts == {DeliveryStatus.UNKNOWN: 1, DeliveryStatus.QUEUED: 1}
    finally:
        await engine.dispose()
