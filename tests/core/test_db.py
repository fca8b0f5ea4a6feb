from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.db import upsert
from crm_sync.models import Customer

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def customer(external_id: str, name: str) -> dict[str, object]:
    return {
        "source": "shop",
        "external_id": external_id,
        "name": name,
        "attributes": {},
        "created_at": NOW,
        "updated_at": NOW,
    }


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(engine: AsyncEngine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    async with engine.connect() as connection:
        assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1


async def test_upsert_inserts_then_updates_on_the_key(session: AsyncSession) -> None:
    await upsert(
        session,
        Customer,
        [customer("c1", "Ann"), customer("c2", "Bo")],
        key=["source", "external_id"],
    )
    await upsert(
        session,
        Customer,
        [customer("c2", "Bob"), customer("c3", "Cy")],
        key=["source", "external_id"],
    )
    await session.commit()
    names = (await session.scalars(select(Customer.name).order_by(Customer.external_id))).all()
    assert names == ["Ann", "Bob", "Cy"]


async def test_upsert_can_keep_existing_rows(session: AsyncSession) -> None:
    await upsert(session, Customer, [customer("c1", "Ann")], key=["source", "external_id"])
    await upsert(
        session, Customer, [customer("c1", "Changed")], key=["source", "external_id"], update=()
    )
    await session.commit()
    assert await session.scalar(select(Customer.name)) == "Ann"


async def test_upsert_of_nothing_is_a_no_op(session: AsyncSession) -> None:
    await upsert(session, Customer, [], key=["source", "external_id"])


async def test_timestamps_come_back_aware_utc(session: AsyncSession) -> None:
    madrid_time = NOW.astimezone(timezone(timedelta(hours=1)))
    await upsert(
        session,
        Customer,
        [customer("c1", "Ann") | {"created_at": madrid_time}],
        key=["source", "external_id"],
    )
    await session.commit()
    stored = await session.scalar(select(Customer.created_at))
    assert stored == NOW
    assert stored.tzinfo is not None
    assert stored.utcoffset() == timedelta(0)


async def test_naive_timestamps_are_refused(session: AsyncSession) -> None:
    naive = datetime(2026, 11, 1, 12, 0)  # noqa: DTZ001  (the point of the test)
    with pytest.raises(StatementError, match="naive datetime"):
        await upsert(
            session,
            Customer,
            [customer("c1", "Ann") | {"created_at": naive}],
            key=["source", "external_id"],
        )
