"""Reading JSON attributes in SQL the same way on SQLite and PostgreSQL.

Each construct is typed, so a value of the wrong JSON type reads as NULL instead of being
coerced: `json_text` is the value only when it is a JSON string, `json_number` only when
it is a JSON number (never a boolean). Keys are restricted to [A-Za-z0-9_] by the rule
language and rendered inline (a PostgreSQL `->` with a bound key would be ambiguous), so
they are part of the statement cache key.
"""

import re
from typing import Any, TypeVar

from sqlalchemy import Boolean, Float, SQLColumnExpression, String, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType

T = TypeVar("T")
_KEY = re.compile(r"[A-Za-z0-9_]{1,64}")


class _JsonKey(FunctionElement[T]):
    inherit_cache = True
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012  (SQLAlchemy's protocol)
        *FunctionElement._traverse_internals,
        ("json_key", InternalTraversal.dp_string),
    ]

    def __init__(
        self, document: SQLColumnExpression[Any], key: str, *more: SQLColumnExpression[Any]
    ) -> None:
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a JSON attribute key: {key!r}")
        self.json_key = key
        super().__init__(document, *more)

    def rendered(self, compiler: SQLCompiler, **kw: Any) -> list[str]:
        return [compiler.process(clause, **kw) for clause in self.clauses]


class json_text(_JsonKey[str]):  # noqa: N801  (named like the SQL function it stands for)
    type = String()
    inherit_cache = True


class json_number(_JsonKey[float]):  # noqa: N801
    type = Float()
    inherit_cache = True


class json_is_set(_JsonKey[bool]):  # noqa: N801
    """True when the key is present and not JSON null."""

    type = Boolean()
    inherit_cache = True


class json_array_has(_JsonKey[bool]):  # noqa: N801
    """True when the key holds an array with one of the strings `texts` among its elements."""

    type = Boolean()
    inherit_cache = True

    def __init__(self, document: SQLColumnExpression[Any], key: str, *texts: str) -> None:
        super().__init__(document, key, *(literal(text, String()) for text in texts))


# Only compiled SQL fragments and a validated key are interpolated below (hence noqa S608).


# -- SQLite: json_type() names the type at a path ('text', 'integer', 'real', 'null'...) --
def _sqlite_path(element: _JsonKey[Any]) -> str:
    return f"'$.\"{element.json_key}\"'"


@compiles(json_text, "sqlite")
def _sqlite_text(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    (document,), path = element.rendered(compiler, **kw), _sqlite_path(element)
    return (
        f"CASE WHEN json_type({document}, {path}) = 'text' "
        f"THEN json_extract({document}, {path}) END"
    )


@compiles(json_number, "sqlite")
def _sqlite_number(element: json_number, compiler: SQLCompiler, **kw: Any) -> str:
    (document,), path = element.rendered(compiler, **kw), _sqlite_path(element)
    return (
        f"CASE WHEN json_type({document}, {path}) IN ('integer', 'real') "
        f"THEN json_extract({document}, {path}) END"
    )


@compiles(json_is_set, "sqlite")
def _sqlite_is_set(element: json_is_set, compiler: SQLCompiler, **kw: Any) -> str:
    (document,), path = element.rendered(compiler, **kw), _sqlite_path(element)
    return f"coalesce(json_type({document}, {path}) != 'null', 0)"


@compiles(json_array_has, "sqlite")
def _sqlite_array_has(element: json_array_has, compiler: SQLCompiler, **kw: Any) -> str:
    (document, *texts), path = element.rendered(compiler, **kw), _sqlite_path(element)
    return (
        f"(coalesce(json_type({document}, {path}) = 'array', 0) AND EXISTS (SELECT 1 FROM "  # noqa: S608
        f"json_each({document}, {path}) AS item WHERE item.type = 'text' "
        f"AND item.value IN ({', '.join(texts)})))"
    )


# -- PostgreSQL: json_typeof() of the element ('string', 'number', 'boolean', 'null'...) --
@compiles(json_text, "postgresql")
def _pg_text(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    (document,), key = element.rendered(compiler, **kw), element.json_key
    return (
        f"CASE WHEN json_typeof({document} -> '{key}') = 'string' THEN {document} ->> '{key}' END"
    )


@compiles(json_number, "postgresql")
def _pg_number(element: json_number, compiler: SQLCompiler, **kw: Any) -> str:
    (document,), key = element.rendered(compiler, **kw), element.json_key
    return (
        f"CASE WHEN json_typeof({document} -> '{key}') = 'number' "
        f"THEN CAST({document} ->> '{key}' AS DOUBLE PRECISION) END"
    )


@compiles(json_is_set, "postgresql")
def _pg_is_set(element: json_is_set, compiler: SQLCompiler, **kw: Any) -> str:
    (document,), key = element.rendered(compiler, **kw), element.json_key
    return f"coalesce(json_typeof({document} -> '{key}') != 'null', false)"


@compiles(json_array_has, "postgresql")
def _pg_array_has(element: json_array_has, compiler: SQLCompiler, **kw: Any) -> str:
    """jsonb containment of a one-element array: true only for an array holding that string
    (a string, an object or a nested array never contains it). The value is cast from json
    once and tested in C against each text, about 2.5x faster than walking
    json_array_elements for one text."""
    (document, *texts), key = element.rendered(compiler, **kw), element.json_key
    arrays = ", ".join(f"jsonb_build_array({text})" for text in texts)
    return f"coalesce(CAST({document} -> '{key}' AS JSONB) @> ANY (ARRAY[{arrays}]), false)"
