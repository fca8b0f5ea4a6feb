"""Staging tables: a batch of validated records, loaded into a TEMPORARY table by the
driver's fastest path (COPY on PostgreSQL, INSERTs of many rows each on SQLite:
`core.frames.insert_records`), so the store can write it with set-based statements; and
the table a batch naming stored orders is matched into. Nothing here commits.

Temporary tables are private to the connection and need no migration. Values are staged
in the form the target columns store them (SQLite: SQLAlchemy's UTC timestamp text; on
PostgreSQL microseconds since the epoch, turned into timestamptz by `staged_time`), so a
staged row and a stored one compare equal exactly when nothing changed.
"""

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Float,
    Integer,
    MetaData,
    Table,
    Text,
    literal_column,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import UtcDateTime
from core.frames import fill_temporary, stored_times
from crm_sync.models import Money

# Kept apart from the models' metadata: Alembic never sees these tables.
STAGE_METADATA = MetaData()
# SQLite: the timestamp text SQLAlchemy stores; PostgreSQL: microseconds since the epoch.
StagedTime = BigInteger().with_variant(Text(), "sqlite")

CUSTOMERS_STAGE = Table(
    "crm_stage_customers",
    STAGE_METADATA,
    Column("external_id", Text),
    Column("name", Text),
    Column("phone", Text),
    Column("email", Text),
    Column("attributes", Text),  # JSON text
    prefixes=["TEMPORARY"],
)
ORDERS_STAGE = Table(
    "crm_stage_orders",
    STAGE_METADATA,
    Column("external_id", Text),
    Column("customer_external_id", Text),
    Column("ordered_at", StagedTime),
    Column("amount", Float),
    Column("currency", Text),
    Column("status", Text),
    Column("quantity", Integer),
    Column("utm_campaign", Text),
    Column("counts_as_purchase", Boolean),
    prefixes=["TEMPORARY"],
)
# A staged batch of orders that names stored ones, matched to what the source holds
# (`crm_sync.store`): each order's values as the orders table stores them, its customer
# (None: the source has none by that id), and for a stored order what it was when matched,
# for the purchase facts to follow the change (`crm_sync.facts.follow_order_changes`).
ORDERS_MATCHED = Table(
    "crm_matched_orders",
    STAGE_METADATA,
    Column("external_id", Text),
    Column("customer_id", BigInteger),
    Column("ordered_at", UtcDateTime()),
    Column("amount", Money),
    Column("currency", Text),
    Column("status", Text),
    Column("quantity", Integer),
    Column("utm_campaign", Text),
    Column("counts_as_purchase", Boolean),
    Column("stored", Boolean),
    Column("was_customer_id", BigInteger),
    Column("was_ordered_at", UtcDateTime()),
    Column("was_amount", Money),
    Column("was_purchase", Boolean),  # it counted in the purchase facts
    prefixes=["TEMPORARY"],
)

Row = tuple[object, ...]
# A sync's SQLite connection: a page cache (in KiB; the default is 2 MB) big enough that
# inserting into the order indexes does not re-read index pages from the file, and the
# staging tables in memory (temp_store 2).
SQLITE_BULK_PRAGMAS = {"cache_size": -256 * 1024, "temp_store": 2}
# A sync's PostgreSQL connection: room for the hash joins of a staged batch with the
# customers (at the default 4 MB they spill to disk), and for building in one sort the
# indexes a first import sets aside (`crm_sync.bulk_load`). Index lookups priced as what
# they are here, reads of pages in memory: at the default price (4, a spinning disk's)
# the planner reads all of a million orders to join ten thousand staged ones.
POSTGRES_BULK_SETTINGS = {
    "work_mem": "64MB",
    "maintenance_work_mem": "256MB",
    "random_page_cost": "1.1",
}


@asynccontextmanager
async def bulk_writes(session: AsyncSession) -> AsyncIterator[None]:
    """Set `session`'s connection up for a sync's bulk writes, and back afterwards.

    SQLite gets a page cache sized for the sync and keeps the staging tables in memory;
    PostgreSQL gets the memory for its joins and index builds. On the way out the staging
    tables are dropped and the connection's own settings put back, so the pooled
    connection goes back as it came; after an error the connection is discarded instead
    (it may be broken), and its temporary tables and settings go with it.
    """
    connection = await session.connection()
    sqlite = connection.dialect.name == "sqlite"
    before: dict[str, int] = {}
    if sqlite:
        for pragma, value in SQLITE_BULK_PRAGMAS.items():
            current = await connection.exec_driver_sql(f"PRAGMA {pragma}")
            before[pragma] = int(current.scalar_one())
            await connection.exec_driver_sql(f"PRAGMA {pragma} = {value}")
    else:
        for setting, amount in POSTGRES_BULK_SETTINGS.items():
            await connection.exec_driver_sql(f"SET {setting} = '{amount}'")
    try:
        yield
    except BaseException:
        await session.invalidate()
        raise
    connection = await session.connection()
    for table in STAGE_METADATA.sorted_tables:
        await connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table.name}")
    for pragma, previous in before.items():
        await connection.exec_driver_sql(f"PRAGMA {pragma} = {previous}")
    if not sqlite:
        for setting in POSTGRES_BULK_SETTINGS:
            await connection.exec_driver_sql(f"RESET {setting}")
    await session.commit()


async def stage(session: AsyncSession, table: Table, frame: pd.DataFrame) -> None:
    """Replace the contents of the temporary `table` with `frame` (columns named alike)."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    names = [column.name for column in table.columns]
    values = [_column(frame[name], as_json=name == "attributes", sqlite=sqlite) for name in names]
    rows: list[Row] = list(zip(*values, strict=True))
    await fill_temporary(session, table, rows)


def staged_time(column: ColumnElement[object], dialect: str) -> ColumnElement[object]:
    """A staged timestamp as the target column stores it."""
    if dialect == "postgresql":
        return literal_column("TIMESTAMPTZ 'epoch'") + column * literal_column(
            "INTERVAL '1 microsecond'"
        )
    return column


def _column(values: pd.Series, *, as_json: bool, sqlite: bool) -> Sequence[object]:
    """Plain Python values for the driver, None where missing."""
    if as_json:  # most customers have no attributes: "{}" without a call per row
        return [json.dumps(value) if value else "{}" for value in values]
    timestamps = isinstance(values.dtype, pd.DatetimeTZDtype)
    if timestamps and sqlite:
        return stored_times(values, "sqlite")
    present = values.notna().to_numpy()
    if timestamps:
        naive_utc = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
        column: list[object] = naive_utc.astype(np.int64).astype(object).tolist()
    else:
        column = values.astype(object).tolist()
    if present.all():
        return column
    return [value if keep else None for value, keep in zip(column, present, strict=True)]
