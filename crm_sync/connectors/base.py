"""The one small interface every source implements, and what it yields."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from core.errors import SegbotError
from crm_sync.config import RecordRules
from crm_sync.duplicates import FirstRows
from crm_sync.fields import Stream
from crm_sync.records import RawRows, Rejection, Validated, validate_customers, validate_orders

# Where a stream got to: opaque to everyone but the connector that wrote it, stored as JSON.
Cursor = dict[str, str | int | bool | None]


class SourceError(SegbotError):
    """The whole source failed (unreachable, bad credentials, unreadable file): the run fails
    with this message and the cursor stays where it was."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Records read from one stream, and the cursor to resume from once they are stored.

    A stream ends with a batch carrying no records and the cursor of a finished pass.
    """

    stream: Stream
    cursor: Cursor
    records: pd.DataFrame = field(default_factory=pd.DataFrame)
    rejected: list[Rejection] = field(default_factory=list)
    read: int = 0  # rows read, rejected ones included
    total: int | None = None  # rows the stream holds in all, when the source says
    ignored_columns: tuple[str, ...] = ()  # source columns nothing reads (last batch)


class Connector(Protocol):
    """A source of customers and orders, read in batches since a cursor."""

    @property
    def name(self) -> str:
        """The source's name: the `source` of every customer and order it brings."""
        ...

    @property
    def streams(self) -> tuple[Stream, ...]:
        """The streams it has, customers before orders."""
        ...

    async def check(self) -> None:
        """Raise SourceError if a stream cannot be read as configured (a file or a query
        without a column the sync needs): the run then fails before storing anything."""
        ...

    def batches(self, stream: Stream, cursor: Cursor | None) -> AsyncIterator[Batch]:
        """Validated batches of `stream` after `cursor` (None: from the beginning)."""
        ...


def validate(
    stream: Stream,
    frame: pd.DataFrame,
    *,
    rules: RecordRules,
    raw: RawRows,
    row_numbers: np.ndarray,
    seen: FirstRows | None = None,
) -> Validated:
    check = validate_customers if stream == "customers" else validate_orders
    return check(frame, rules=rules, raw=raw, row_numbers=row_numbers, seen=seen)
