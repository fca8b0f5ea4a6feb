"""Migrations keep the rows they find, run one at a time and change nothing when they fail;
`segbot db current` of a database from a newer segbot."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, column, insert, inspect, select, table, text, update
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

import migrations
from cli.app import app
from core.db import UtcDateTime, create_engine
from core.errors import ConfigError
from tests.cli.conftest import invoke

MOMENT = datetime(2026, 10, 20, 9, 30, tzinfo=UTC)
CUSTOMERS = table(
    "customers",
    *(column(name) for name in ("id", "source", "external_id", "attributes")),
    column("created_at", UtcDateTime()),
    column("updated_at", UtcDateTime()),
)
ORDERS = table(
    "orders",
    *(column(name) for name in ("id", "source", "external_id", "customer_id", "amount")),
    *(column(name, UtcDateTime()) for name in ("ordered_at", "created_at", "updated_at")),
)


def _has_table(name: str) -> Callable[[Connection], bool]:
    return lambda connection: inspect(connection).has_table(name)


def _order(number: int, customer_id: int) -> dict[str, object]:
    return {
        "id": number, "source": "shop", "external_id": f"o{number}", "customer_id": customer_id,
        "amount": 10 * number, "ordered_at": MOMENT, "created_at": MOMENT, "updated_at": MOMENT,
    }  # fmt: skip


async def test_orders_stored_at_0001_survive_the_upgrade_to_head(
    fresh_database_url: str,
) -> None:
    """0002 copies the customers table on SQLite: dropping the old copy cascaded to orders."""
    engine = create_engine(fresh_database_url)
    try:
        await migrations.upgrade(engine, "0001")
        async with engine.begin() as connection:
            await connection.execute(
                insert(CUSTOMERS),
                [
                    {"id": number, "source": "shop", "external_id": f"c{number}",
                     "attributes": "{}", "created_at": MOMENT, "updated_at": MOMENT}
                    for number in (1, 2)
                ],
            )  # fmt: skip
            await connection.execute(insert(ORDERS), [_order(1, 1), _order(2, 1), _order(3, 2)])
        await migrations.upgrade(engine)
        async with engine.connect() as connection:
            kept = await connection.execute(
                select(ORDERS.c.id, ORDERS.c.customer_id).order_by(ORDERS.c.id)
            )
            assert [tuple(row) for row in kept] == [(1, 1), (2, 1), (3, 2)]
        with pytest.raises(IntegrityError):  # foreign keys are enforced again afterwards
            async with engine.begin() as connection:
                await connection.execute(insert(ORDERS), [_order(4, 99)])
    finally:
        await engine.dispose()


async def test_db_current_of_a_newer_database_does_not_advise_an_upgrade(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`segbot db upgrade` refuses a revision it does not have: `current` must not send
    the operator there."""
    engine = create_engine(fresh_database_url)
    try:
        await migrations.upgrade(engine)
        async with engine.begin() as connection:
            await connection.execute(
                update(table("alembic_version", column("version_num"))).values(version_num="0999")
            )
    finally:
        await engine.dispose()
    monkeypatch.setenv("SEGBOT_DATABASE_URL", fresh_database_url)
    result = await invoke(CliRunner(), app, "db", "current")
    assert result.exit_code == 0
    assert result.stdout.startswith("0999 (not a revision this segbot has")
    assert "run `segbot db upgrade`" not in result.stdout


async def test_a_migration_that_fails_changes_nothing_and_can_run_again(
    fresh_database_url: str,
) -> None:
    """SQLite committed each table change before the first row change: a failed 0015 left
    uploaded_files behind, and every later upgrade failed on it."""
    clash = "ALTER TABLE campaign_variants {} COLUMN effect_id"  # 0015 adds it last
    engine = create_engine(fresh_database_url)
    try:
        await migrations.upgrade(engine, "0014")
        async with engine.begin() as connection:
            await connection.execute(text(clash.format("ADD") + " VARCHAR(32)"))
        with pytest.raises(Exception, match="effect_id"):
            await migrations.upgrade(engine)
        async with engine.begin() as connection:
            assert not await connection.run_sync(_has_table("uploaded_files"))
            await connection.execute(text(clash.format("DROP")))
        await migrations.upgrade(engine)
        assert await migrations.current_revision(engine) == migrations.head_revision()
    finally:
        await engine.dispose()


async def test_two_upgrades_at_once_both_succeed(fresh_database_url: str) -> None:
    """The second waits for the first, then finds nothing left to do."""
    engines = [create_engine(fresh_database_url) for _ in range(2)]
    try:
        await asyncio.gather(*(migrations.upgrade(engine) for engine in engines))
        assert await migrations.current_revision(engines[0]) == migrations.head_revision()
    finally:
        for engine in engines:
            await engine.dispose()


VERSIONS = table("alembic_version", column("version_num"))


@pytest.mark.parametrize(("rows", "held"), [([None], "none"), (["0019", "0020"], "'0019', '0020'")])
async def test_a_version_table_without_one_revision_is_said_and_nothing_is_created(
    fresh_database_url: str, rows: list[str | None], held: str
) -> None:
    """A row without a revision read as a new database: upgrade created every table, added
    its own row beside it, and every command after failed with a traceback."""
    engine = create_engine(fresh_database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
            await connection.execute(insert(VERSIONS), [{"version_num": row} for row in rows])
        says = f"the table alembic_version should hold one revision, and holds {held}"
        with pytest.raises(migrations.RevisionError, match=says):
            await migrations.upgrade(engine)
        with pytest.raises(migrations.RevisionError, match=says):
            await migrations.current_revision(engine)
        async with engine.connect() as connection:
            assert not await connection.run_sync(_has_table("subscribers"))
    finally:
        await engine.dispose()


async def test_a_newer_database_is_not_sent_to_an_upgrade_that_refuses_it(
    fresh_database_url: str,
) -> None:
    engine = create_engine(fresh_database_url)
    try:
        await migrations.upgrade(engine)
        async with engine.begin() as connection:
            await connection.execute(update(VERSIONS).values(version_num="0999"))
        with pytest.raises(ConfigError, match="'0999', which this segbot does not have"):
            await migrations.make_ready(engine, upgrade_in_place=False)
    finally:
        await engine.dispose()


async def test_sums_of_two_customers_fit_the_purchase_facts_0011_makes(
    fresh_database_url: str,
) -> None:
    """Two customers of 14-digit totals (as 0001 allowed), linked to one subscriber: 0011
    summed them into a column of 14 digits, and PostgreSQL refused the upgrade for good."""
    engine = create_engine(fresh_database_url)
    big = 600_000_000_000
    try:
        await migrations.upgrade(engine, "0010")
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO subscribers (id, telegram_id, chat_id, status, subscribed_at, "
                    "last_seen_at, attributes) VALUES (1, 1, 1, 'active', :at, :at, '{}')"
                ),
                {"at": MOMENT},
            )
            for number, source in ((1, "shop"), (2, "pos")):
                await connection.execute(
                    text(
                        "INSERT INTO customers (id, source, external_id, attributes, created_at, "
                        "updated_at, subscriber_id, orders_count, total_spent) VALUES (:id, "
                        ":source, 'c', '{}', :at, :at, 1, 1, :total)"
                    ),
                    {"id": number, "source": source, "at": MOMENT, "total": big},
                )
        await migrations.upgrade(engine)
        async with engine.connect() as connection:
            summed = await connection.scalar(text("SELECT total_spent FROM subscriber_purchases"))
        assert summed == 2 * big
    finally:
        await engine.dispose()
