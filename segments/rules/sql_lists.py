"""An `in` list bound as one parameter, however long: `column IN (SELECT ... )` over a
PostgreSQL array or, on SQLite, over `json_each` of a JSON array.

A list written out as one parameter per value would run into the drivers' limits (asyncpg
takes at most 32,767 parameters in a statement, SQLite 32,766), and a rule may hold many
lists; one parameter per list keeps a statement's parameters proportional to its
predicates. As a subquery, the list is hashed once by either database instead of being
scanned for every row.
"""

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, Dialect, Float, SQLColumnExpression, String, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine

ListValue = str | int | float


class _Values(TypeDecorator[list[ListValue]]):
    """A list of `item`s as one parameter: a PostgreSQL array, JSON text elsewhere."""

    impl = String
    cache_ok = True

    def __init__(self, item: TypeEngine[Any]) -> None:
        super().__init__()
        self.item = item

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(self.item))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: list[ListValue] | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return json.dumps(value)


class in_values(FunctionElement[bool]):  # noqa: N801  (named like the SQL it stands for)
    """`column IN values`: the values are all text or all numbers, as the rule's type check
    leaves them."""

    type = Boolean()
    inherit_cache = True

    def __init__(self, column: SQLColumnExpression[Any], values: Sequence[object]) -> None:
        texts = [value for value in values if isinstance(value, str)]
        numbers = [
            value
            for value in values
            if isinstance(value, int | float) and not isinstance(value, bool)
        ]
        if len(texts) != len(values) and len(numbers) != len(values):
            raise ValueError("an `in` list is all text or all numbers")
        item: TypeEngine[Any] = String() if texts else Float()
        listed = bindparam(None, texts or numbers, type_=_Values(item))
        super().__init__(column, listed)

    def rendered(self, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
        """The column and the list parameter."""
        column, listed = (compiler.process(clause, **kw) for clause in self.clauses)
        return column, listed


# Only compiled SQL fragments are interpolated below (hence noqa S608).


@compiles(in_values, "sqlite")
def _sqlite_in(element: in_values, compiler: SQLCompiler, **kw: Any) -> str:
    column, listed = element.rendered(compiler, **kw)
    return f"{column} IN (SELECT value FROM json_each({listed}))"  # noqa: S608


@compiles(in_values, "postgresql")
def _pg_in(element: in_values, compiler: SQLCompiler, **kw: Any) -> str:
    column, listed = element.rendered(compiler, **kw)
    return f"{column} IN (SELECT listed.value FROM unnest({listed}) AS listed(value))"  # noqa: S608
