"""`and` / `or` of many conditions, shaped so that no database parses them deeply.

SQLite's parser nests a chain `a OR b OR c ...` one level per term, and refuses an
expression deeper than 1,000 levels; SQLAlchemy flattens nested `or_()`s into one chain
(a campaign's targets, each a rule, are or-ed together too). Here a list is split into
halves, each in parentheses SQLAlchemy keeps, so n terms are about log2(n) levels deep.
"""

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Boolean, ColumnElement, and_, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType

Combine = Callable[..., ColumnElement[bool]]


class _Parenthesised(ColumnElement[bool]):
    """A condition in parentheses that SQLAlchemy neither removes nor merges into an
    enclosing `and_()` / `or_()`."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012  (SQLAlchemy's protocol)
        ("element", InternalTraversal.dp_clauseelement)
    ]

    def __init__(self, element: ColumnElement[bool]) -> None:
        self.element = element

    def self_group(self, against: Any = None) -> ColumnElement[bool]:
        return self  # already grouped


@compiles(_Parenthesised)
def _parenthesised(element: _Parenthesised, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.element, **kw)})"


def all_of(conditions: Sequence[ColumnElement[bool]]) -> ColumnElement[bool]:
    """Every one of `conditions` (at least one)."""
    return _balanced(and_, conditions)


def any_of(conditions: Sequence[ColumnElement[bool]]) -> ColumnElement[bool]:
    """Any of `conditions` (at least one)."""
    return _balanced(or_, conditions)


def _balanced(combine: Combine, conditions: Sequence[ColumnElement[bool]]) -> ColumnElement[bool]:
    if len(conditions) <= 2:
        return combine(*conditions)
    middle = len(conditions) // 2
    halves = (conditions[:middle], conditions[middle:])
    return combine(*(_Parenthesised(_balanced(combine, half)) for half in halves))
