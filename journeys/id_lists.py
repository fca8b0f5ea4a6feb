"""`column IN (ids)` with the ids bound as one parameter: a BIGINT array on PostgreSQL
(`= ANY`, which the primary key's index serves), a JSON array on SQLite (`json_each`).

The engine names thousands of enrolments per statement. Written out as one parameter each
(an expanding IN), a statement costs more to build than to run; the rule language's
one-parameter lists (segments.rules.sql_lists) hold numbers as floats, which no integer
index serves.
"""

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Boolean, Dialect, SQLColumnExpression, String, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
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


class among(FunctionElement[bool]):  # noqa: N801  (named like the SQL it stands for)
    """`column IN ids`, the ids one parameter."""

    type = Boolean()
    inherit_cache = True

    def __init__(self, column: SQLColumnExpression[Any], ids: Sequence[int]) -> None:
        super().__init__(column, bindparam(None, [int(each) for each in ids], type_=_Ids()))


@compiles(among, "sqlite")
def _sqlite_among(element: among, compiler: SQLCompiler, **kw: Any) -> str:
    column, listed = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"{column} IN (SELECT value FROM json_each({listed}))"  # noqa: S608


@compiles(among, "postgresql")
def _pg_among(element: among, compiler: SQLCompiler, **kw: Any) -> str:
    column, listed = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"{column} = ANY({listed})"
