"""Large result sets into pandas, and many rows into a table, without per-row overhead.

The ORM's row handling, and pandas reading SQLAlchemy `Row` objects, cost seconds per
million rows; plain tuples on the session's connection cost a fraction of that. Kept out
of `core.db` so that importing the database layer does not import pandas.
"""

import io
from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, Column, Dialect, Executable, MetaData, Select, Table, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import CreateTable

# Parameters one SQLite statement may take on any build (SQLITE_MAX_VARIABLE_NUMBER was
# 999 before 3.32).
SQLITE_PARAMETERS = 999


async def read_frame(
    session: AsyncSession, statement: Executable, columns: list[str]
) -> pd.DataFrame:
    """The rows of `statement`, run on the session's connection, as a frame with `columns`."""
    connection = await session.connection()
    rows = (await connection.execute(statement)).all()
    return pd.DataFrame(list(map(tuple, rows)), columns=columns)


async def read_integers(
    session: AsyncSession, statement: Select[*tuple[Any, ...]], columns: list[str]
) -> pd.DataFrame:
    """The rows of `statement`, whose every value is an integer (never NULL), as a frame
    of int64 `columns`.

    Read by the driver's fastest path, past SQLAlchemy's per-row result handling (which
    costs more than the query itself for half a million rows): PostgreSQL sends the rows
    as CSV (COPY ... TO STDOUT) for pandas to parse in C; SQLite's plain tuples become
    one int64 array at once. Times and money fit: as microseconds and cents.
    """
    connection = await session.connection()
    sql, parameters = _driver_sql(statement, connection.dialect)
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None  # noqa: S101  (an open connection always has one)
    try:
        if connection.dialect.name != "postgresql":
            cursor = await driver.execute(sql, parameters)
            rows = np.array(await cursor.fetchall(), dtype=np.int64).reshape(-1, len(columns))
            return pd.DataFrame(rows, columns=columns)
        text = io.BytesIO()

        async def write(chunk: bytes) -> None:
            text.write(chunk)

        await driver.copy_from_query(sql, *parameters, output=write, format="csv")
        text.seek(0)
        types = dict.fromkeys(columns, np.int64)
        if not text.getbuffer().nbytes:
            return pd.DataFrame(columns=columns).astype(types)
        return pd.read_csv(text, header=None, names=columns, dtype=types, skip_blank_lines=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"read_integers: a value is NULL or not an integer ({error})") from None


def _driver_sql(statement: Select[*tuple[Any, ...]], dialect: Dialect) -> tuple[str, list[object]]:
    """`statement` in the driver's own SQL, with its positional parameters converted as
    SQLAlchemy converts them for that driver (a UTC timestamp as SQLite's text, say)."""
    compiled = statement.compile(dialect=dialect)
    if any(bind.expanding for bind in compiled.binds.values()):
        raise ValueError("read_integers takes no IN (...) list parameters")
    values = compiled.construct_params()
    parameters = []
    for name in compiled.positiontup or ():
        convert = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        parameters.append(values[name] if convert is None else convert(values[name]))
    return compiled.string, parameters


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
    transaction: COPY on PostgreSQL; on SQLite one executemany of INSERTs of many rows
    each (a row per statement costs twice the time, most of it per-statement overhead).

    No column type processes the values: they go in as the table stores them (plain
    numbers and text; a time as the caller has already formatted it).
    """
    if not records:
        return
    if session.get_bind().dialect.name == "postgresql":
        await copy_records(session, table, columns, records)
        return
    connection = await session.connection()
    per_statement = max(1, SQLITE_PARAMETERS // len(columns))
    into = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "  # noqa: S608
    row = f"({', '.join('?' for _ in columns)})"
    whole = len(records) - len(records) % per_statement
    if whole:
        values = [
            tuple(chain.from_iterable(records[start : start + per_statement]))
            for start in range(0, whole, per_statement)
        ]
        await connection.exec_driver_sql(into + ", ".join([row] * per_statement), values)
    if whole < len(records):
        rest = records[whole:]
        await connection.exec_driver_sql(
            into + ", ".join([row] * len(rest)), tuple(chain.from_iterable(rest))
        )


def temporary_table(name: str, key: str, *columns: Column[Any]) -> Table:
    """A TEMPORARY table (private to its connection, never migrated) keyed by the BIGINT
    `key`, with `columns` after it: where a set-based statement reads staged rows from."""
    return Table(
        name,
        MetaData(),
        Column(key, BigInteger, primary_key=True),
        *columns,
        prefixes=["TEMPORARY"],
    )


def stored_times(moments: pd.Series, dialect: str) -> list[object]:
    """Aware timestamps as `insert_records` takes them for a timestamp column, None for
    NaT: SQLite's UTC text as SQLAlchemy stores it ('YYYY-MM-DD HH:MM:SS.ffffff'),
    PostgreSQL's aware datetimes."""
    if moments.empty:
        return []
    utc = moments.dt.tz_convert("UTC")
    missing = utc.isna().to_numpy()
    if dialect == "postgresql":
        values: list[object] = list(utc.dt.to_pydatetime())
    else:
        naive = utc.dt.tz_localize(None).to_numpy("datetime64[us]")
        text = np.char.replace(np.datetime_as_string(naive, unit="us"), "T", " ")
        values = text.astype(object).tolist()
    return [None if gone else value for value, gone in zip(values, missing, strict=True)]


async def fill_temporary(
    session: AsyncSession, table: Table, records: Sequence[tuple[object, ...]]
) -> None:
    """Make the temporary `table` (created if missing) hold exactly `records`, in its
    column order, by `insert_records`. On PostgreSQL it is emptied by TRUNCATE (no dead
    rows left in a table autovacuum never visits) and analysed after (never auto-analysed,
    it would be planned blind)."""
    await _empty_temporary(session, table)
    await insert_records(session, table.name, [column.name for column in table.columns], records)
    if records:
        await _analyze_temporary(session, table)


async def fill_temporary_from(session: AsyncSession, table: Table, rows: Select[Any]) -> None:
    """Make the temporary `table` hold exactly what `rows` selects (one value per column of
    the table, in its order), with one INSERT ... SELECT; emptied and analysed as
    `fill_temporary` does."""
    await _empty_temporary(session, table)
    connection = await session.connection()
    await connection.execute(insert(table).from_select(list(table.columns), rows))
    await _analyze_temporary(session, table)


async def _empty_temporary(session: AsyncSession, table: Table) -> None:
    """Create the temporary `table` if missing, else empty it."""
    connection = await session.connection()
    postgres = connection.dialect.name == "postgresql"
    await connection.execute(CreateTable(table, if_not_exists=True))
    await connection.exec_driver_sql(f"{'TRUNCATE' if postgres else 'DELETE FROM'} {table.name}")


async def _analyze_temporary(session: AsyncSession, table: Table) -> None:
    """PostgreSQL: statistics for the temporary `table`, which autovacuum never analyses."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await connection.exec_driver_sql(f"ANALYZE {table.name}")
