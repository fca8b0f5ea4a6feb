"""Time windows in SQL: "`later` came at most `span` after `earlier`", exact to the
microsecond on both databases, so a report can count inside the database what it would
otherwise fetch row by row to measure in pandas.

PostgreSQL subtracts the two timestamps: the difference is an exact interval (adding the
span instead would add calendar days in the session's time zone, an hour off across a
change of daylight saving time). SQLite keeps a time as the text
'YYYY-MM-DD HH:MM:SS.ffffff' and has no exact arithmetic on it (`julianday` is a float,
and `strftime` rounds a fraction of .9995 or more up to the next second), so both times
become whole microseconds since the epoch: the seconds of the text without its fraction,
then the six digits of the fraction (`core.db.epoch_microseconds`).
"""

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement
from sqlalchemy.sql.elements import SQLColumnExpression

from core.db import epoch_microseconds

Moment = SQLColumnExpression[datetime | None]


def within(later: Moment, earlier: Moment, span: timedelta, *, dialect: str) -> ColumnElement[bool]:
    """`later - earlier <= span` (whether `later` is after `earlier` at all is the
    caller's condition, usually one an index can serve)."""
    if dialect == "postgresql":
        return later - earlier <= span
    microseconds = epoch_microseconds(dialect)
    return microseconds(later) - microseconds(earlier) <= span // timedelta(microseconds=1)
