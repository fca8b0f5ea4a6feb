"""RFM: recency, frequency and monetary value of CRM purchases, scored 1-5 in quintiles.

`score(orders, as_of)` is the whole contract: pure, vectorised pandas, and deterministic,
so the same orders in any row order give the same frame.

- Only orders with a positive amount count (refunds and zero-value orders do not), and
  only those placed by `as_of`: a `date` counts calendar days (UTC) and includes orders
  placed on that day; a `datetime` counts whole 24-hour periods.
- recency_days: whole days from the customer's last order to `as_of`; frequency: number
  of orders; monetary: their sum, counted in cents as the database stores money.
- Quintiles: the n customers are sorted by the value, ascending (recency by descending
  recency_days, so more recent scores higher); a customer scores floor(5*i/n) + 1 where i
  is the 0-based position of the first customer with the same value. Equal values score
  equally, whatever the customer ids: ties take the lowest score any of them would get,
  so a tie never lifts anyone into a better quintile than their value earns. When every
  customer has the same value, a lone customer included, all score 1: nobody is ahead.
- segment: the name the R/F cell has in a `SegmentMap` (`DEFAULT_SEGMENT_MAP` unless
  given), which names each of the 25 cells exactly once.

Quintiles of a handful of customers rank noise, so what is stored or shown is scored by
`score_with_minimum`: below the minimum (`MIN_CUSTOMERS` unless configured) it scores
nobody and says why (`TooFewCustomers`).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd

from core.errors import ConfigError, SegbotError

SCORES = range(1, 6)
MIN_CUSTOMERS = 20  # customers with a counted order needed before quintiles mean anything
COLUMNS = ["customer_id", "recency_days", "frequency", "monetary", "r", "f", "m", "segment"]
# Per-customer purchase summary `score_summary` reads (what SQL can aggregate for us).
SUMMARY_COLUMNS = ["customer_id", "last_ordered_at", "frequency", "monetary"]


class RfmInputError(SegbotError):
    """The orders frame or the as-of moment cannot be scored as given."""


@dataclass(frozen=True, slots=True)
class TooFewCustomers:
    """Fewer customers with a counted order than the minimum: nothing is scored."""

    customers: int
    minimum: int

    def __str__(self) -> str:
        there = "there is 1" if self.customers == 1 else f"there are {self.customers}"
        return f"RFM needs at least {self.minimum} customers with orders; {there}"


def shortfall(customers: int, *, minimum: int) -> TooFewCustomers | None:
    """Why `customers` customers with a counted order are too few to score, or None."""
    return TooFewCustomers(customers, minimum) if customers < minimum else None


ScoreSpan = tuple[int, int]


@dataclass(frozen=True, slots=True)
class SegmentMap:
    """Names for the 25 cells of the recency x frequency grid, each cell named exactly once.

    Build it from `{name: (recency_span, frequency_span)}` where a span is (low, high),
    inclusive; anything that leaves a cell unnamed or names one twice is a ConfigError.
    """

    spans: Mapping[str, tuple[ScoreSpan, ScoreSpan]]

    def __post_init__(self) -> None:
        named: dict[tuple[int, int], list[str]] = {(r, f): [] for r in SCORES for f in SCORES}
        for name, (recency, frequency) in self.spans.items():
            for low, high in (recency, frequency):
                if not (1 <= low <= high <= 5):
                    raise ConfigError(f"rfm segment {name!r}: scores must be 1-5, low <= high")
            for r in range(recency[0], recency[1] + 1):
                for f in range(frequency[0], frequency[1] + 1):
                    named[r, f].append(name)
        gaps = [f"R{r}F{f}" for (r, f), names in named.items() if not names]
        overlaps = [
            f"R{r}F{f} ({', '.join(names)})" for (r, f), names in named.items() if len(names) > 1
        ]
        if gaps or overlaps:
            problems = ([f"unnamed cells {', '.join(gaps)}"] if gaps else []) + (
                [f"cells named twice {'; '.join(overlaps)}"] if overlaps else []
            )
            raise ConfigError(f"rfm segment map: {'; '.join(problems)}")

    def name_of(self, r: int, f: int) -> str:
        return next(
            name
            for name, (recency, frequency) in self.spans.items()
            if recency[0] <= r <= recency[1] and frequency[0] <= f <= frequency[1]
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.spans)

    def grid(self) -> np.ndarray[tuple[int, int], np.dtype[np.object_]]:
        """A 5x5 array of names indexed by [r - 1, f - 1]."""
        cells = np.empty((5, 5), dtype=object)
        for r in SCORES:
            for f in SCORES:
                cells[r - 1, f - 1] = self.name_of(r, f)
        return cells


DEFAULT_SEGMENT_MAP = SegmentMap(
    {
        "champions": ((5, 5), (4, 5)),
        "loyal": ((3, 4), (4, 5)),
        "potential_loyalists": ((4, 5), (2, 3)),
        "new_customers": ((5, 5), (1, 1)),
        "promising": ((4, 4), (1, 1)),
        "need_attention": ((3, 3), (3, 3)),
        "about_to_sleep": ((3, 3), (1, 2)),
        "at_risk": ((1, 2), (3, 4)),
        "cant_lose": ((1, 2), (5, 5)),
        "hibernating": ((1, 2), (1, 2)),
    }
)


def score(
    orders: pd.DataFrame,
    as_of: date | datetime,
    *,
    segment_map: SegmentMap = DEFAULT_SEGMENT_MAP,
) -> pd.DataFrame:
    """One row per customer with a counted order: COLUMNS, sorted by customer_id."""
    missing = {"customer_id", "ordered_at", "amount"} - set(orders.columns)
    if missing:
        raise RfmInputError(f"orders lack the columns {', '.join(sorted(missing))}")
    ordered_at = _aware_utc(orders["ordered_at"])
    counted = (orders["amount"] > 0) & _placed_by(ordered_at, as_of)
    cents = (orders["amount"][counted].astype("float64") * 100).round().astype("int64")
    summary = (
        pd.DataFrame(
            {
                "customer_id": orders["customer_id"][counted],
                "ordered_at": ordered_at[counted],
                "cents": cents,
            }
        )
        .groupby("customer_id", sort=False)
        .agg(
            last_ordered_at=("ordered_at", "max"),
            frequency=("ordered_at", "size"),
            cents=("cents", "sum"),
        )
        .reset_index()
    )
    summary["monetary"] = summary["cents"] / 100
    return score_summary(summary[SUMMARY_COLUMNS], as_of, segment_map=segment_map)


def score_summary(
    summary: pd.DataFrame,
    as_of: date | datetime,
    *,
    segment_map: SegmentMap = DEFAULT_SEGMENT_MAP,
) -> pd.DataFrame:
    """Score per-customer purchase facts (SUMMARY_COLUMNS, counted orders only)."""
    frame = pd.DataFrame(
        {
            "customer_id": summary["customer_id"].to_numpy(),
            "recency_days": recency_days(summary["last_ordered_at"], as_of).to_numpy("int64"),
            "frequency": summary["frequency"].to_numpy(dtype="int64"),
            "monetary": summary["monetary"].to_numpy(dtype="float64"),
        }
    )
    frame = frame.sort_values("customer_id", kind="stable", ignore_index=True)
    frame["r"] = _quintiles(frame["recency_days"], ascending=False)
    frame["f"] = _quintiles(frame["frequency"], ascending=True)
    frame["m"] = _quintiles(frame["monetary"], ascending=True)
    names = segment_map.grid()[frame["r"].to_numpy() - 1, frame["f"].to_numpy() - 1]
    frame["segment"] = pd.Series(names, dtype="str", index=frame.index)
    return frame[COLUMNS]


def score_with_minimum(
    summary: pd.DataFrame,
    as_of: date | datetime,
    *,
    min_customers: int,
    segment_map: SegmentMap = DEFAULT_SEGMENT_MAP,
) -> tuple[pd.DataFrame, TooFewCustomers | None]:
    """`score_summary` when `summary` holds at least `min_customers` customers; else the
    empty frame, and why."""
    too_few = shortfall(len(summary), minimum=min_customers)
    scored = summary if too_few is None else summary.iloc[:0]
    return score_summary(scored, as_of, segment_map=segment_map), too_few


def recency_days(last_ordered_at: pd.Series, as_of: date | datetime) -> pd.Series:
    """Whole days from each last order (aware timestamps) to `as_of`: calendar days (UTC)
    to a date, whole 24-hour periods to a datetime."""
    last = _aware_utc(last_ordered_at)
    if isinstance(as_of, datetime):
        elapsed = pd.Timestamp(_aware(as_of)) - last
    else:
        elapsed = pd.Timestamp(as_of, tz=UTC) - last.dt.floor("D")
    return pd.Series(elapsed.dt.days, index=last.index)


def _quintiles(values: pd.Series, *, ascending: bool) -> pd.Series:
    """floor(5*i/n)+1, i the 0-based position of the first of the values equal to each one
    once all are sorted (`rank(method="min")` is that position plus one)."""
    first = values.rank(method="min", ascending=ascending).to_numpy("int64") - 1
    return pd.Series(5 * first // max(len(values), 1) + 1, index=values.index)


def _placed_by(ordered_at: pd.Series, as_of: date | datetime) -> pd.Series:
    """Orders placed at or before `as_of`, or on or before that UTC day."""
    if isinstance(as_of, datetime):
        return ordered_at <= pd.Timestamp(_aware(as_of))
    next_midnight = datetime.combine(as_of, time(), tzinfo=UTC) + timedelta(days=1)
    return ordered_at < pd.Timestamp(next_midnight)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise RfmInputError(f"as_of {moment!r} is naive: give an aware UTC datetime or a date")
    return moment.astimezone(UTC)


def _aware_utc(column: pd.Series) -> pd.Series:
    if not isinstance(column.dtype, pd.DatetimeTZDtype):
        raise RfmInputError(
            f"{column.name} must hold aware timestamps (datetime64 with a zone), not {column.dtype}"
        )
    return pd.Series(column.dt.tz_convert(UTC))


__all__ = [
    "COLUMNS",
    "DEFAULT_SEGMENT_MAP",
    "MIN_CUSTOMERS",
    "SUMMARY_COLUMNS",
    "RfmInputError",
    "SegmentMap",
    "TooFewCustomers",
    "recency_days",
    "score",
    "score_summary",
    "score_with_minimum",
    "shortfall",
]
