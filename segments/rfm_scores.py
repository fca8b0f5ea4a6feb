"""RFM scores in the database: rescored from the orders, read back as a table.

The database sums each customer's counted orders (one GROUP BY); `rfm.score_summary`
scores them in pandas; the scores replace the previous ones. A customer's score reaches
their subscriber through `Customer.subscriber_id` (rules: `rfm = champions`, `rfm.r >= 4`).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import pandas as pd
from sqlalchemy import (
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.models import Customer, Order
from segments.models import RfmScore
from segments.rfm import COLUMNS, DEFAULT_SEGMENT_MAP, SUMMARY_COLUMNS, SegmentMap, score_summary
from segments.rules.comparison import day_start

INSERT_BATCH = 50_000


@dataclass(frozen=True, slots=True)
class RfmRescore:
    as_of: date
    customers: int
    segments: dict[str, int]  # customers per segment name


async def read_purchase_summary(session: AsyncSession, *, as_of: date | datetime) -> pd.DataFrame:
    """Per customer, over orders that count as purchases with a positive amount placed by
    `as_of`: SUMMARY_COLUMNS (monetary summed in cents, as `rfm.score` does)."""
    if isinstance(as_of, datetime):
        placed = Order.ordered_at <= as_of
    else:
        placed = Order.ordered_at < day_start(as_of) + timedelta(days=1)
    statement = (
        select(
            Order.customer_id,
            func.max(Order.ordered_at),
            func.count(),
            func.sum(func.round(Order.amount * 100)),
        )
        .where(and_(Order.counts_as_purchase.is_(True), Order.amount > 0, placed))
        .group_by(Order.customer_id)
    )
    rows = (await session.execute(statement)).all()
    frame = pd.DataFrame.from_records(rows, columns=["customer_id", "last", "frequency", "cents"])
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype("int64"),
            "last_ordered_at": pd.to_datetime(frame["last"], utc=True),
            "frequency": frame["frequency"].astype("int64"),
            "monetary": frame["cents"].astype("float64") / 100,
        },
        columns=SUMMARY_COLUMNS,
    )


async def rescore_rfm(
    session: AsyncSession,
    *,
    as_of: date | datetime,
    now: datetime,
    segment_map: SegmentMap = DEFAULT_SEGMENT_MAP,
) -> RfmRescore:
    """Score every customer with a counted order as of `as_of`, replacing all stored
    scores (customers without one lose theirs); commits."""
    scores = score_summary(
        await read_purchase_summary(session, as_of=as_of), as_of, segment_map=segment_map
    )
    day = as_of.astimezone(UTC).date() if isinstance(as_of, datetime) else as_of
    await session.execute(delete(RfmScore))
    await _insert_scores(session, scores, as_of=day, scored_at=now)
    await session.commit()
    counts = scores["segment"].value_counts()
    return RfmRescore(
        as_of=day,
        customers=len(scores),
        segments={str(name): int(count) for name, count in counts.items()},
    )


async def _insert_scores(
    session: AsyncSession, scores: pd.DataFrame, *, as_of: date, scored_at: datetime
) -> None:
    """PostgreSQL: one INSERT ... SELECT FROM unnest(one array per column), about twice as
    fast for 200,000 customers as building dicts for an executemany (which SQLite, in
    process, runs quickly)."""
    if session.get_bind().dialect.name == "postgresql":
        table = cast(Table, RfmScore.__table__)
        arrays = [
            bindparam(column, scores[column].tolist(), type_=postgresql.ARRAY(table.c[column].type))
            for column in COLUMNS
        ]
        unnested = func.unnest(*arrays).table_valued(*COLUMNS).render_derived()
        from_arrays = select(
            *(unnested.c[column] for column in COLUMNS),
            literal(as_of, RfmScore.as_of.type),
            literal(scored_at, RfmScore.scored_at.type),
        )
        columns = [*COLUMNS, "as_of", "scored_at"]
        await session.execute(insert(RfmScore).from_select(columns, from_arrays))
        return
    records = scores.assign(as_of=as_of, scored_at=scored_at)
    rows = cast(list[dict[str, Any]], records.to_dict("records"))
    for start in range(0, len(rows), INSERT_BATCH):
        await session.execute(insert(RfmScore), rows[start : start + INSERT_BATCH])


async def rfm_table(session: AsyncSession) -> pd.DataFrame:
    """The stored scores with each customer's source, external id and subscriber:
    `customer_id, source, external_id, subscriber_id` + rfm.COLUMNS[1:] + `as_of`."""
    statement = select(
        RfmScore.customer_id,
        Customer.source,
        Customer.external_id,
        Customer.subscriber_id,
        *(getattr(RfmScore, column) for column in COLUMNS[1:]),
        RfmScore.as_of,
    ).join(Customer, Customer.id == RfmScore.customer_id)
    rows = (await session.execute(statement.order_by(RfmScore.customer_id))).all()
    columns = ["customer_id", "source", "external_id", "subscriber_id", *COLUMNS[1:], "as_of"]
    return pd.DataFrame.from_records(rows, columns=columns)
