"""Raw records as read from a source, made JSON-safe to keep beside a rejection; and what
a source names or says, made fit to show."""

import datetime as dt
import decimal
import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]
JsonObject = dict[str, JsonValue]


def jsonable_records(
    rows: pd.DataFrame | Sequence[Mapping[str, object]], positions: np.ndarray | None = None
) -> list[JsonObject]:
    """The rows at `positions` (all rows when None) as JSON objects."""
    records: Sequence[Mapping[Hashable, object]] | Sequence[Mapping[str, object]]
    if isinstance(rows, pd.DataFrame):
        records = (rows if positions is None else rows.iloc[positions]).to_dict("records")
    else:
        records = rows if positions is None else [rows[int(i)] for i in positions]
    return [{str(key): jsonable(value) for key, value in record.items()} for record in records]


def jsonable(value: object) -> JsonValue:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | str | int):
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
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return str(value)


def printable(text: str) -> str:
    """`text` as a message or a report shows it (a column's name, what an API says): each
    character that prints nothing (a NUL, a line break, a zero-width space) escaped as
    Python writes it (`\\x00`). A broken export's NUL would otherwise vanish on a terminal,
    and fail the run's record on PostgreSQL, whose text holds none."""
    if text.isprintable():  # nearly always: no new string
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
