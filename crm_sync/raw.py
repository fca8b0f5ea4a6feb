"""Raw records as read from a source, made JSON-safe to keep beside a rejection; and what
a source names or says, made fit to show."""

import datetime as dt
import decimal
import math
import re
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

from core.unstorable import LONE_SURROGATE

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]
JsonObject = dict[str, JsonValue]
# Levels of lists and objects a raw record keeps: what an API nests deeper (its JSON
# reads up to hundreds deep) is shown as TOO_DEEP, so storing the record recurses no
# deeper than that.
MAX_DEPTH = 32
TOO_DEEP = f"[nested deeper than {MAX_DEPTH} levels: left out]"


def jsonable_records(
    rows: pd.DataFrame | Sequence[Mapping[str, object]], positions: np.ndarray | None = None
) -> list[JsonObject]:
    """The rows at `positions` (all rows when None) as JSON objects."""
    records: Sequence[Mapping[Hashable, object]] | Sequence[Mapping[str, object]]
    if isinstance(rows, pd.DataFrame):
        records = (rows if positions is None else rows.iloc[positions]).to_dict("records")
    else:
        records = rows if positions is None else [rows[int(i)] for i in positions]
    return [
        {_text(str(key)): jsonable(value) for key, value in record.items()} for record in records
    ]


def jsonable(value: object, *, depth: int = 0) -> JsonValue:
    """`value` as JSON holds it; `depth`: how many lists and objects hold it."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):  # JSON has no NaN or infinity: PostgreSQL refuses them
        if math.isfinite(value):
            return value
        return None if math.isnan(value) else str(value)
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, Mapping | list | tuple) and depth == MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, Mapping):
        return {_text(str(key)): jsonable(item, depth=depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item, depth=depth + 1) for item in value]
    return str(value)


def encodes(text: str) -> bool:
    """Whether `text` is all characters (UTF-8 holds it): false for a lone surrogate."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _text(text: str) -> str:
    """`text` with each lone surrogate shown as U+FFFD, so that JSON holding it can be
    stored (a NUL is kept: JSON writes it as an escape)."""
    return text if encodes(text) else re.sub(LONE_SURROGATE, "\ufffd", text)


def printable(text: str) -> str:
    """`text` as a message or a report shows it (a column's name, what an API says): each
    character that prints nothing (a NUL, a line break, a zero-width space) escaped as
    Python writes it (`\\x00`). A broken export's NUL would otherwise vanish on a terminal,
    and fail the run's record on PostgreSQL, whose text holds none."""
    if text.isprintable():  # nearly always: no new string
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
