"""Inserting rows known to be new by the driver's fastest path: COPY on PostgreSQL, one
executemany of plain tuples on SQLite. Nothing here commits.

The sync compares each batch with what is stored before writing, under the one-run-per-
connector lock, so its new rows cannot collide; should another writer slip one in anyway,
the unique key fails the batch (and the run) rather than double a row. Changed rows still
go through `core.db.upsert`. Values are written as SQLAlchemy's types would write them
(UTC timestamps, JSON text), so the ORM reads them back the same.
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy.ext.asyncio import AsyncSession

SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format for SQLite DATETIME

Row = tuple[object, ...]


async def insert_new(
    session: AsyncSession,
    table_name: str,
    frame: pd.DataFrame,
    *,
    constants: dict[str, object],
    json_columns: Sequence[str] = (),
) -> None:
    """Insert `frame`'s rows (its columns named as the table's), each with `constants`."""
    if frame.empty:
        return
    dialect = session.get_bind().dialect.name
    sqlite = dialect == "sqlite"
    columns = [*map(str, frame.columns), *constants]
    values = [_column(frame[c], as_json=c in json_columns, sqlite=sqlite) for c in frame.columns]
    fixed = [_constant(value, sqlite=sqlite) for value in constants.values()]
    rows: list[Row] = list(zip(*values, *([value] * len(frame) for value in fixed), strict=True))
    connection = await session.connection()  # in the batch's transaction: lookups ran first
    if dialect == "postgresql":
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None  # noqa: S101  (an open connection always has one)
        await driver.copy_records_to_table(table_name, records=rows, columns=columns)
    else:  # SQLite, the only other database segbot runs on
        marks = ", ".join("?" for _ in columns)
        statement = f"INSERT INTO {table_name} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
        await connection.exec_driver_sql(statement, rows)


def _column(values: pd.Series, *, as_json: bool, sqlite: bool) -> list[object]:
    present = values.notna().to_numpy()
    if as_json:
        return [json.dumps(value) for value in values]
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        naive_utc = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
        if sqlite:
            text = np.char.replace(np.datetime_as_string(naive_utc, unit="us"), "T", " ")
            column: list[object] = text.astype(object).tolist()
        else:
            column = [value.replace(tzinfo=UTC) for value in naive_utc.astype(datetime)]
        return [value if keep else None for value, keep in zip(column, present, strict=True)]
    result: list[object] = values.astype(object).where(present, None).tolist()
    return result


def _constant(value: object, *, sqlite: bool) -> object:
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
        return value.strftime(SQLITE_TIME) if sqlite else value
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value
