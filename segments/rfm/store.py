"""RFM scores in the database: rescored from the purchases, read back as a table.

The database gives one summary row per customer; `rfm.score_summary` scores them in
pandas. The summary comes from the purchase facts the CRM sync keeps on each customer
(one row per customer) when every counted order was placed by the as-of day, the rescore
after each sync; for an earlier as-of it is summed from the orders (one GROUP BY over all
of them). A customer's score reaches their subscriber through `Customer.subscriber_id`
(rules: `rfm = champions`, `rfm.r >= 4`).

The stored scores are then made exactly the new ones by writing only the difference:
what the scores are as of lives once, in the run (`RfmRun`), and each row keeps its
customer's last order rather than a recency that grows every day, so a daily rescore
rewrites just the customers who bought, stopped counting, or crossed a quintile boundary.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Select,
    SQLColumnExpression,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import DropTable

from core.db import analyze
from core.frames import fill_temporary, read_frame, read_integers, stored_times, temporary_table
from crm_sync.models import Customer, Order
from segments.models import RfmRun, RfmScore
from segments.rfm.scoring import (
    DEFAULT_SEGMENT_MAP,
    SUMMARY_COLUMNS,
    SegmentMap,
    recency_days,
    score_summary,
)
from segments.rules.comparison import day_start

# What a row holds besides its customer, in the order the scores are staged.
_STORED = ["last_ordered_at", "frequency", "monetary", "r", "f", "m", "segment"]
# The same values as a rescore compares them, exact integers: times in microseconds,
# money in cents, the segment as its position in the map (-1: a name the map lacks).
_KEYS = ["last", "frequency", "cents", "r", "f", "m", "segment"]
# Per rescore, private to its connection: the rows to write, and the customers no longer
# scored.
_WRITTEN = temporary_table(
    "rfm_scores_written",
    "customer_id",
    *(Column(name, RfmScore.__table__.c[name].type) for name in _STORED),
)
_GONE = temporary_table("rfm_scores_gone", "customer_id")


@dataclass(frozen=True, slots=True)
class RfmRescore:
    as_of: date
    customers: int
    segments: dict[str, int]  # customers per segment name
    changed: int  # stored rows written or deleted


async def read_purchase_summary(session: AsyncSession, *, as_of: date | datetime) -> pd.DataFrame:
    """Per customer, over orders that count as purchases with a positive amount placed by
    `as_of`: SUMMARY_COLUMNS (monetary summed in cents, as `rfm.score` does).

    Read from the customers' purchase facts when no customer's last counted order is
    after `as_of` (they then hold exactly these sums), else summed from the orders.
    """
    placed_by_as_of = _placed_by(as_of)
    latest_purchase = select(func.max(Customer.last_order_at)).scalar_subquery()
    moment = _microseconds(session.get_bind().dialect.name)
    statement: Select[int, Any, int, int]
    if await session.scalar(select(placed_by_as_of(latest_purchase))):
        statement = select(
            Customer.id,
            moment(Customer.last_order_at),
            Customer.orders_count,
            _cents(Customer.total_spent),
        ).where(Customer.orders_count > 0)
    else:
        statement = (
            select(
                Order.customer_id,
                moment(func.max(Order.ordered_at)),
                func.count(),
                func.sum(_cents(Order.amount)),
            )
            .where(
                Order.counts_as_purchase.is_(True),
                Order.amount > 0,
                placed_by_as_of(Order.ordered_at),
            )
            .group_by(Order.customer_id)
        )
    frame = await read_integers(session, statement, ["customer_id", "last", "frequency", "cents"])
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype("int64"),
            "last_ordered_at": pd.to_datetime(frame["last"].astype("int64"), unit="us", utc=True),
            "frequency": frame["frequency"].astype("int64"),
            "monetary": frame["cents"].astype("float64") / 100,
        },
        columns=SUMMARY_COLUMNS,
    )


def _microseconds(dialect: str) -> Callable[[SQLColumnExpression[Any]], ColumnElement[int]]:
    """A time as whole microseconds since the epoch, an integer: half a million of them
    decode and convert in a fraction of the time timestamps take."""
    if dialect == "postgresql":
        return lambda moment: cast(func.extract("epoch", moment) * 1_000_000, BigInteger)
    # SQLite holds the UTC time as 'YYYY-MM-DD HH:MM:SS.ffffff': its whole seconds since
    # the epoch, and the six digits of the fraction.
    return lambda moment: (
        cast(func.strftime("%s", moment), BigInteger) * 1_000_000
        + cast(func.substr(moment, 21, 6), BigInteger)
    )


def _cents(money: SQLColumnExpression[Any]) -> ColumnElement[int]:
    """Money as whole cents, an integer: decoded many times faster than a numeric."""
    return cast(func.round(money * 100), BigInteger)


def _placed_by(
    as_of: date | datetime,
) -> Callable[[SQLColumnExpression[Any]], ColumnElement[bool]]:
    """The condition "`moment` is by `as_of`": a date includes its whole (UTC) day."""
    if isinstance(as_of, datetime):
        return lambda moment: moment <= as_of
    next_day = day_start(as_of) + timedelta(days=1)
    return lambda moment: moment < next_day


async def rescore_rfm(
    session: AsyncSession,
    *,
    as_of: date,
    now: datetime,
    segment_map: SegmentMap = DEFAULT_SEGMENT_MAP,
) -> RfmRescore:
    """Score every customer with a counted order as of the day `as_of`, and make the
    stored scores exactly these (customers without one lose theirs); commits."""
    summary = await read_purchase_summary(session, as_of=as_of)
    scores = score_summary(summary, as_of, segment_map=segment_map)
    scores = scores.merge(summary[["customer_id", "last_ordered_at"]], on="customer_id")
    changed = await _store_difference(session, scores, segment_map.names, now)
    if changed:
        await analyze(session, RfmScore.__tablename__)
    counts = {str(name): int(count) for name, count in scores["segment"].value_counts().items()}
    session.add(
        RfmRun(as_of=as_of, scored_at=now, customers=len(scores), changed=changed, segments=counts)
    )
    await session.commit()
    return RfmRescore(as_of=as_of, customers=len(scores), segments=counts, changed=changed)


async def _store_difference(
    session: AsyncSession, scores: pd.DataFrame, names: Sequence[str], now: datetime
) -> int:
    """Bring the stored scores to `scores` (COLUMNS and `last_ordered_at`), comparing
    them in pandas and writing only what differs: the customers gone are deleted, the
    changed rows staged and updated in place (one UPDATE ... FROM), the new ones staged
    and inserted. How many rows were deleted or written.

    Updating in place keeps the primary key untouched, so no foreign-key checks run, and
    on PostgreSQL, with free space on each page (fillfactor), most updates are HOT. The
    new rows are known from the comparison, so the INSERT tests nothing against the table
    it fills (a planner that thinks the table empty may rescan it for every row).
    """
    stored = await _stored_keys(session, names)
    new = _keys(scores, names)
    both = new.merge(stored, on="customer_id", how="outer", suffixes=("", "_stored"))
    scored, was_stored = both["last"].notna().to_numpy(), both["last_stored"].notna().to_numpy()
    differs = np.zeros(len(both), dtype=bool)
    for key in _KEYS:
        differs |= both[key].to_numpy() != both[f"{key}_stored"].to_numpy()
    changed = set(both.loc[scored & was_stored & differs, "customer_id"])
    added = set(both.loc[scored & ~was_stored, "customer_id"])
    gone = both.loc[~scored, "customer_id"].astype("int64").tolist()

    await fill_temporary(session, _GONE, [(customer,) for customer in gone])
    await session.execute(
        delete(RfmScore).where(RfmScore.customer_id.in_(select(_GONE.c.customer_id)))
    )
    staged = _WRITTEN.c
    await _stage(session, scores[scores["customer_id"].isin(changed)])
    await session.execute(
        update(RfmScore)
        .where(RfmScore.customer_id == staged.customer_id)
        .values({name: staged[name] for name in _STORED} | {"changed_at": _stamp(now)})
    )
    await _stage(session, scores[scores["customer_id"].isin(added)])
    await session.execute(
        insert(RfmScore).from_select(
            ["customer_id", *_STORED, "changed_at"], select(*staged, _stamp(now))
        )
    )
    for table in (_WRITTEN, _GONE):
        await session.execute(DropTable(table))
    return len(gone) + len(changed) + len(added)


async def _stage(session: AsyncSession, rows: pd.DataFrame) -> None:
    """Make the temporary `_WRITTEN` hold exactly `rows` (scores to write)."""
    dialect = session.get_bind().dialect.name
    values = [rows["customer_id"].tolist(), stored_times(rows["last_ordered_at"], dialect)]
    values += [rows[name].tolist() for name in _STORED[1:]]
    await fill_temporary(session, _WRITTEN, list(zip(*values, strict=True)))


async def _stored_keys(session: AsyncSession, names: Sequence[str]) -> pd.DataFrame:
    microseconds = _microseconds(session.get_bind().dialect.name)
    position = case({name: number for number, name in enumerate(names)}, value=RfmScore.segment)
    statement = select(
        RfmScore.customer_id,
        microseconds(RfmScore.last_ordered_at),
        RfmScore.frequency,
        _cents(RfmScore.monetary),
        RfmScore.r,
        RfmScore.f,
        RfmScore.m,
        func.coalesce(position, -1),
    )
    return await read_integers(session, statement, ["customer_id", *_KEYS])


def _keys(scores: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    last = scores["last_ordered_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    return pd.DataFrame(
        {
            "customer_id": scores["customer_id"],
            "last": last.to_numpy("datetime64[us]").astype("int64"),
            "frequency": scores["frequency"],
            "cents": (scores["monetary"] * 100).round().astype("int64"),
            "r": scores["r"],
            "f": scores["f"],
            "m": scores["m"],
            "segment": pd.Categorical(scores["segment"], categories=list(names)).codes,
        }
    )


def _stamp(now: datetime) -> ColumnElement[datetime]:
    return literal(now, RfmScore.changed_at.type)


async def rfm_table(session: AsyncSession) -> pd.DataFrame:
    """The stored scores with each customer's source, external id and subscriber:
    `customer_id, source, external_id, subscriber_id` + rfm.COLUMNS[1:] + `as_of` (the
    latest run's day, from which recency_days counts)."""
    latest = select(RfmRun.as_of).order_by(RfmRun.scored_at.desc(), RfmRun.id.desc()).limit(1)
    as_of = await session.scalar(latest)
    statement = select(
        RfmScore.customer_id,
        Customer.source,
        Customer.external_id,
        Customer.subscriber_id,
        *(getattr(RfmScore, column) for column in _STORED),
    ).join(Customer, Customer.id == RfmScore.customer_id)
    columns = ["customer_id", "source", "external_id", "subscriber_id", *_STORED]
    frame = await read_frame(session, statement.order_by(RfmScore.customer_id), columns)
    last = pd.to_datetime(frame.pop("last_ordered_at"), utc=True)
    frame.insert(4, "recency_days", None if as_of is None else recency_days(last, as_of))
    frame["as_of"] = as_of
    return frame
