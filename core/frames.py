"""Large result sets into pandas, and many rows into a table, without per-row overhead.

The ORM's row handling, and pandas reading SQLAlchemy `Row` objects, cost seconds per
million rows; plain tuples on the session's connection cost a fraction of that. Kept out
of `core.db` so that importing the database layer does not import pandas.
"""

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Executable, Table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import CreateTable


async def read_frame(
    session: AsyncSession, statement: Executable, columns: list[str]
) -> pd.DataFrame:
    """The rows of `statement`, run on the session's connection, as a frame with `columns`."""
    connection = await session.connection()
    rows = (await connection.execute(statement)).all()
    return pd.DataFrame(list(map(tuple, rows)), columns=columns)


async def copy_records(
    session: AsyncSession, table: str, columns: list[str], records: Sequence[tuple[object, ...]]
) -> None:
    """PostgreSQL: COPY `records` into `table` (values as asyncpg takes them), in the
    session's transaction. Far faster than an INSERT for many rows."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None  # noqa: S101  (an open connection always has one)
    await driver.copy_records_to_table(table, records=records, columns=columns)


async def insert_records(
    session: AsyncSession, table: str, columns: list[str], records: Sequence[tuple[object, ...]]
) -> None:
    """Insert `records` into `table` by the driver's fastest path, in the session's
    transaction: COPY on PostgreSQL, one executemany of the tuples on SQLite.

    No column type processes the values: they go in as the table stores them (plain
    numbers and text; a time as the caller has already formatted it).
    """
    if not records:
        return
    if session.get_bind().dialect.name == "postgresql":
        await copy_records(session, table, columns, records)
        return
    connection = await session.connection()
    marks = ", ".join("?" for _ in columns)
    statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
    await connection.exec_driver_sql(statement, list(records))


async def fill_temporary(
    session: AsyncSession, table: Table, records: Sequence[tuple[object, ...]]
) -> None:
    """Make the temporary `table` (created if missing) hold exactly `records`, in its
    column order, by `insert_records`. On PostgreSQL it is emptied by TRUNCATE (no dead
    rows left in a table autovacuum never visits) and analysed after (never auto-analysed,
    it would be planned blind)."""
    connection = await session.connection()
    postgres = connection.dialect.name == "postgresql"
    await connection.execute(CreateTable(table, if_not_exists=True))
    await connection.exec_driver_sql(f"{'TRUNCATE' if postgres else 'DELETE FROM'} {table.name}")
    await insert_records(session, table.name, [column.name for column in table.columns], records)
    if postgres and records:
        await connection.exec_driver_sql(f"ANALYZE {table.name}")
