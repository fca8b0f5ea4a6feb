"""How a source's columns are read (crm_sync.mapping): the same options on a connector in
segbot.yaml as in an import mapping, checked when the file is read; the columns nothing
reads are reported; a file without a needed column fails before anything is stored."""

import logging
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import ConfigError
from crm_sync.config import load_crm_config
from crm_sync.connectors import FilesConnector
from crm_sync.jobs import scheduled_sync, sync_configured
from crm_sync.models import Customer
from crm_sync.worker import run_sync
from tests.crm_sync.shop import (
    CUSTOMER_HEADER,
    ORDER_HEADER,
    RULES,
    customers_by_id,
    orders_by_id,
    write_csv,
)


def files_connector(**options: object) -> dict[str, object]:
    return {"crm": {"connectors": [{"name": "shop", "type": "files", **options}]}}


def test_a_connector_takes_the_import_mapping_options(tmp_path: Path) -> None:
    config = load_crm_config(
        files_connector(
            customers="c.csv",
            attributes=["city", "visits"],
            dayfirst=True,
            timezone="Europe/Madrid",
            create_customers=True,
        )
    )
    (connector,) = config.connectors
    rules = config.rules_for(connector)
    assert rules.attributes == {"city": "city", "visits": "visits"}
    assert (rules.dayfirst, rules.date_format, rules.timezone) == (True, None, "Europe/Madrid")
    assert connector.create_customers


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"columns": {"orders": {"total": "Total"}}}, r"columns.orders: no orders field 'total'"),
        ({"attributes": {"crm-tier": "Tier"}}, "attribute 'crm-tier' cannot be named in a rule"),
        ({"date_format": "%d/%m"}, "'%d/%m' does not give the day, the month and the year"),
    ],
)
def test_a_connector_option_segbot_cannot_use_fails_when_the_config_loads(
    options: dict[str, object], error: str
) -> None:
    with pytest.raises(ConfigError, match=error):
        load_crm_config(files_connector(customers="c.csv", **options))


async def test_a_connector_rejects_orders_for_unknown_customers_unless_it_creates_them(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    orders = write_csv(
        tmp_path / "orders.csv", ORDER_HEADER, [("o1", "c9", "2026-01-10", "5", "EUR", "paid")]
    )
    rejecting = load_crm_config(files_connector(orders=str(orders)))
    (summary,) = await sync_configured(sessionmaker=sessionmaker, config=rejecting)
    assert (summary.streams["orders"].inserted, summary.streams["orders"].rejected) == (0, 1)
    assert await customers_by_id(session) == {}

    creating = load_crm_config(files_connector(orders=str(orders), create_customers=True))
    (summary,) = await sync_configured(sessionmaker=sessionmaker, config=creating, full=True)
    assert (summary.streams["orders"].inserted, summary.streams["orders"].stub_customers) == (1, 1)
    assert sorted(await customers_by_id(session)) == ["c9"]


async def test_a_file_without_a_needed_column_fails_before_anything_is_stored(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    customers = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, [("c1", "Ann", "", "")])
    header = ("order_id", "customer", "when")
    orders = write_csv(tmp_path / "orders.csv", header, [("o1", "c1", "")])
    connector = FilesConnector(name="shop", customers=customers, orders=orders, rules=RULES)

    summary = await run_sync(sessionmaker=sessionmaker, connector=connector)

    assert summary.status == "failed"
    assert summary.error == (
        f"{orders}: no column for customer_external_id, ordered_at, amount; columns found: "
        "order_id, customer, when. Map them under columns.orders in segbot.yaml (crm connector "
        'shop), e.g. customer_external_id: "customer"'
    )
    assert summary.kept() is None
    assert await session.scalar(select(func.count()).select_from(Customer)) == 0


async def test_an_empty_file_is_a_clear_failure(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    empty = tmp_path / "customers.csv"
    empty.write_bytes(b"")
    connector = FilesConnector(name="shop", customers=empty, orders=None, rules=RULES)
    summary = await run_sync(sessionmaker=sessionmaker, connector=connector)
    assert (summary.status, summary.error) == ("failed", f"cannot read {empty}: the file is empty")


async def test_the_columns_nothing_reads_are_reported(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    customers = write_csv(
        tmp_path / "customers.csv",
        ("customer_id", "id", "name", "City", "notes"),
        [("c1", "1", "Ann", "Madrid", "")],
    )
    rules = RULES.model_copy(update={"attributes": {"town": "city"}})
    connector = FilesConnector(name="shop", customers=customers, orders=None, rules=rules)

    summary = await run_sync(sessionmaker=sessionmaker, connector=connector)

    assert summary.streams["customers"].ignored_columns == ["id", "notes"]


async def test_a_failed_scheduled_sync_is_logged_once_with_what_it_kept(
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    customers = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, [("c1", "Ann", "", "")])
    orders = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [(f"o{n}", "c1", "2026-01-10", "1", "EUR", "paid") for n in range(100)],
    )
    with orders.open("a", encoding="utf-8") as file:
        file.write('o100,c1,"2026-01-10,1,EUR,paid\n')  # a quote never closed, far down
    connector = FilesConnector(name="shop", customers=customers, orders=orders, rules=RULES)

    with caplog.at_level(logging.INFO, logger="crm_sync"):
        summary = await scheduled_sync(sessionmaker=sessionmaker, connector=connector)

    assert summary is not None
    assert summary.status == "failed"
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert failures == [
        f"crm sync shop (run {summary.run_id}) failed: {summary.error}; kept customers: "
        "1 inserted, 0 updated, 0 unchanged (complete)"
    ]
    assert sorted(await orders_by_id_of(sessionmaker)) == []


async def orders_by_id_of(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessionmaker() as session:
        return sorted(await orders_by_id(session))
