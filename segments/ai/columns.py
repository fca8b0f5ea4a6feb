"""A query's rows read in chunks into one array per column, for the features of a whole
audience: at most `CHUNK` rows are ever Python tuples, never a million of them.

Rows come straight from the driver (an SQLite cursor, a PostgreSQL server-side cursor, or
COPY for PostgreSQL's integers): SQLAlchemy's per-row result handling, streamed, doubles
the cost of the driver's own fetch for millions of narrow rows. The statement is compiled
by SQLAlchemy as it would run it, IN lists expanded and parameters converted as its
column types convert them.

Numbers, `int` (never NULL) or `float` (NULL as NaN), become numpy arrays; texts become
pandas categoricals of strings, NULL as the caller's `missing` text, their categories
sorted (as `astype("category")` makes them).
"""

import io
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from operator import itemgetter
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import ClauseElement, Dialect
from sqlalchemy.ext.asyncio import AsyncSession

CHUNK = 50_000
Number = Literal["int", "float"]
Array = np.ndarray[Any, np.dtype[Any]]


async def read_columns(
    session: AsyncSession,
    statement: ClauseElement,
    numbers: Sequence[Number],
    texts: int = 0,
    *,
    missing: str = "",
) -> tuple[list[Array], list[pd.Categorical]]:
    """The columns of `statement`'s rows, run on the session's connection: first one
    array per kind in `numbers`, then `texts` text columns."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None  # noqa: S101  (an open connection always has one)
    sql, parameters = _driver_call(statement, connection.dialect)
    postgres = connection.dialect.name == "postgresql"
    if postgres and not texts and set(numbers) == {"int"}:
        return await _copied_integers(driver, sql, parameters, len(numbers)), []
    arrays = [_Numbers(kind) for kind in numbers]
    categoricals = [_Texts(missing) for _ in range(texts)]
    readers: list[_Numbers | _Texts] = [*arrays, *categoricals]
    chunks = _cursor_chunks if postgres else _sqlite_chunks
    async for rows in chunks(driver, sql, parameters):
        for number, reader in enumerate(readers):
            reader.add(list(map(itemgetter(number), rows)))
    return [array.column() for array in arrays], [text.column() for text in categoricals]


def positions(index: pd.Index, wanted: Array) -> tuple[Array, Array]:
    """Where each of `wanted` is in `index` (by its hash table, built once per index: a
    binary search per value is ten times slower), and which of them are there at all."""
    rows = index.get_indexer(pd.Index(wanted))
    return rows, rows >= 0


async def _sqlite_chunks(
    driver: Any, sql: str, parameters: list[object]
) -> AsyncIterator[Sequence[Any]]:
    cursor = await driver.execute(sql, parameters)
    try:
        while rows := await cursor.fetchmany(CHUNK):
            yield rows
    finally:
        await cursor.close()


async def _cursor_chunks(
    driver: Any, sql: str, parameters: list[object]
) -> AsyncIterator[Sequence[Any]]:
    """PostgreSQL: a server-side cursor, in the session's transaction or its own."""
    async with AsyncExitStack() as stack:
        if not driver.is_in_transaction():
            await stack.enter_async_context(driver.transaction())
        cursor = await driver.cursor(sql, *parameters)
        while rows := await cursor.fetch(CHUNK):
            yield rows


async def _copied_integers(
    driver: Any, sql: str, parameters: list[object], width: int
) -> list[Array]:
    """PostgreSQL: integer columns by COPY ... TO STDOUT as CSV, parsed by pandas in C, no
    Python object per value: half the time of the cursor for millions of rows."""
    text = io.BytesIO()

    async def write(chunk: bytes) -> None:
        text.write(chunk)

    await driver.copy_from_query(sql, *parameters, output=write, format="csv")
    if not text.getbuffer().nbytes:
        return [np.empty(0, dtype=np.int64) for _ in range(width)]
    text.seek(0)
    table = pd.read_csv(text, header=None, names=list(range(width)), dtype=np.int64)
    return [table[number].to_numpy() for number in range(width)]


def _driver_call(statement: ClauseElement, dialect: Dialect) -> tuple[str, list[object]]:
    """`statement` in the driver's own SQL, and its positional parameters as SQLAlchemy
    would pass them (a UTC timestamp as SQLite's text, each value of an IN list)."""
    compiled = dialect.statement_compiler(dialect, statement)
    state = compiled.construct_expanded_state()
    parameters = []
    for name in state.positiontup or ():
        value, convert = state.parameters[name], state.processors.get(name)
        if convert is None and name in compiled.binds:
            convert = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        parameters.append(value if convert is None else convert(value))
    return state.statement, parameters


class _Numbers:
    def __init__(self, kind: Number) -> None:
        self._dtype = np.int64 if kind == "int" else np.float64
        self._parts: list[Array] = []

    def add(self, values: list[Any]) -> None:
        self._parts.append(np.array(values, dtype=self._dtype))

    def column(self) -> Array:
        return np.concatenate(self._parts) if self._parts else np.empty(0, dtype=self._dtype)


class _Texts:
    """Codes into one table of the texts seen so far; a chunk's few distinct values are
    looked up once each, not per row."""

    def __init__(self, missing: str) -> None:
        self._missing = missing
        self._table: dict[str, int] = {}
        self._parts: list[Array] = []

    def add(self, values: list[Any]) -> None:
        codes, uniques = pd.factorize(np.array(values, dtype=object))
        texts = [str(value) for value in uniques]
        if (codes < 0).any():  # NULL, code -1: the last of the table
            texts.append(self._missing)
        table = np.array([self._table.setdefault(text, len(self._table)) for text in texts])
        self._parts.append(table[codes].astype(np.int32))

    def column(self) -> pd.Categorical:
        texts = np.array(list(self._table), dtype=object)
        order = np.argsort(texts, kind="stable")
        renumber = np.empty(len(order), dtype=np.int32)
        renumber[order] = np.arange(len(order), dtype=np.int32)
        codes = renumber[np.concatenate(self._parts)] if self._parts else np.empty(0, np.int32)
        return pd.Categorical.from_codes(codes, categories=pd.Index(texts[order], dtype="str"))
