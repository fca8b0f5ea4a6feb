"""Lists of ids as one value, into SQL and back: `column IN (ids)` with the ids bound as one
parameter (a BIGINT array on PostgreSQL: `= ANY`, which the primary key's index serves; a
JSON array on SQLite: `json_each`), the same parameter as rows to select from, and ids
gathered into one list per row (`array_agg`, `json_group_array`), as a statement's
RETURNING columns are too.

The journey engine names and reads back thousands of enrolments per statement, and the
broadcast sender names 200 deliveries several times per batch (claims, marks, recipients,
their tags), as the webhook inbox names its batches of updates. Written out as one
parameter each (an expanding IN), a statement is rendered again at every execution and
costs more to build than to run (on PostgreSQL a typed placeholder per id: 1.2 ms for
200); read back as a row each, decoding the rows took a quarter of the journey engine's
time (a list arrives as one value). A statement built once names its list with `id_list`
and is given the ids when it runs. The rule language's one-parameter lists
(segments.rules.sql_lists) hold numbers as floats, which no integer index serves.
"""

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Dialect,
    Insert,
    SQLColumnExpression,
    String,
    Update,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeDecorator, TypeEngine


class _Ids(TypeDecorator[list[int]]):
    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(BigInteger()))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: list[int] | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return json.dumps(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> list[int]:
        # An aggregate over no rows is NULL: no ids.
        if value is None:
            return []
        ids: list[int] = value if dialect.name == "postgresql" else json.loads(value)
        return ids


def _listed(ids: Sequence[int]) -> BindParameter[list[int]]:
    return bindparam(None, [int(each) for each in ids], type_=_Ids())


def id_list(name: str) -> BindParameter[list[int]]:
    """A list of ids passed when the statement runs, as the parameter `name`."""
    return bindparam(name, type_=_Ids())


class among(FunctionElement[bool]):  # noqa: N801  (named like the SQL it stands for)
    """`column IN ids`, the ids one parameter: these ids, or an `id_list` given later."""

    type = Boolean()
    inherit_cache = True
    # A condition as it is: SQLite would otherwise get `(... IN ...) = 1`, which no index
    # serves (a scan of the whole table where a search by key was meant).
    _is_implicitly_boolean = True

    def __init__(
        self, column: SQLColumnExpression[Any], ids: Sequence[int] | BindParameter[list[int]]
    ) -> None:
        super().__init__(column, ids if isinstance(ids, BindParameter) else _listed(ids))


@compiles(among, "sqlite")
def _sqlite_among(element: among, compiler: SQLCompiler, **kw: Any) -> str:
    column, listed = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"{column} IN (SELECT value FROM json_each({listed}))"  # noqa: S608


@compiles(among, "postgresql")
def _pg_among(element: among, compiler: SQLCompiler, **kw: Any) -> str:
    column, listed = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"{column} = ANY({listed})"


class gathered(FunctionElement[list[int]]):  # noqa: N801  (named like the SQL it stands for)
    """The aggregate of an integer column's values into one list of ids."""

    type = _Ids()
    inherit_cache = True

    def __init__(self, column: SQLColumnExpression[Any]) -> None:
        super().__init__(column)


@compiles(gathered, "sqlite")
def _sqlite_gathered(element: gathered, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


@compiles(gathered, "postgresql")
def _pg_gathered(element: gathered, compiler: SQLCompiler, **kw: Any) -> str:
    return f"array_agg({compiler.process(element.clauses, **kw)})"


def id_rows(session: AsyncSession, ids: Sequence[int]) -> TableValuedAlias:
    """`ids` as rows to select from, one column: `value`."""
    if session.get_bind().dialect.name == "postgresql":
        # A function of one column names it after its alias unless the alias lists it.
        return func.unnest(_listed(ids)).table_valued("value").render_derived()
    return func.json_each(_listed(ids)).table_valued("value")


async def returned(
    session: AsyncSession, statement: Insert | Update, *columns: ColumnElement[int]
) -> list[list[int]]:
    """Run `statement` RETURNING `columns` (integers); each column's values as a list, in
    one order."""
    if session.get_bind().dialect.name == "postgresql":
        # A data-modifying WITH runs to completion, and the rows come back as one.
        rows = statement.returning(*columns).cte("returned")
        lists = await session.execute(select(*(gathered(each) for each in rows.c)))
        return list(lists.one())
    result = await session.execute(statement.returning(*columns))
    values = list(zip(*result.all(), strict=True))
    return [list(each) for each in values] if values else [[] for _ in columns]
