"""RFM scores in the database: rescored from the purchases, read back as a table.

The database gives one summary row per customer (`rfm.purchases`); `rfm.score_summary`
scores them in pandas. A customer's score reaches their subscriber through `Customer.subscriber_id`
(rules: `rfm = champions`, `rfm.r >= 4`).

The stored scores are then made exactly the new ones by writing only the difference:
what the scores are as of lives once, in the run (`RfmRun`), and each row keeps its
customer's last order rather than a recency that grows every day, so a daily rescore
rewrites just the customers who bought, stopped counting, or crossed a quintile boundary.
A change to how scores are computed (such as how ties score) reaches the stored rows the
same way, on the next rescore.

With fewer customers to score than the minimum (`rfm.min_customers`), a rescore scores
nobody: the stored scores are cleared, so no rule or campaign acts on quintiles of a
handful (or on stale ones from a larger past), and the outcome says why (`too_few`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Column, ColumnElement, case, delete, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import DropTable

from core.db import analyze, epoch_microseconds
from core.frames import fill_temporary, read_frame, read_integers, stored_times, temporary_table
from crm_sync.models import Customer
from segments.models import RfmRun, RfmScore
from segments.rfm.purchases import cents, read_purchase_summary
from segments.rfm.scoring import (
    DEFAULT_SEGMENT_MAP,
    MIN_CUSTOMERS,
    SegmentMap,
    TooFewCustomers,
    recency_days,
    score_with_minimum,
)

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
    customers: int  # customers scored
    segments: dict[str, int]  # customers per segment name
    changed: int  # stored rows written or deleted
    too_few: TooFewCustomers | None = None  # why nobody was scored, below the minimum


async def rescore_rfm(
    session: AsyncSession,
    *,
    as_of: date,
    now: datetime,
    segment_map: SegmentMap = DEFAULT_SEGMENT_MAP,
    min_customers: int = MIN_CUSTOMERS,
) -> RfmRescore:
    """Score every customer with a counted order as of the day `as_of`, and make the
    stored scores exactly these (customers without one lose theirs); with fewer than
    `min_customers` of them, score nobody and clear the stored scores. Commits."""
    summary = await read_purchase_summary(session, as_of=as_of)
    scores, too_few = score_with_minimum(
        summary, as_of, min_customers=min_customers, segment_map=segment_map
    )
    scores = scores.merge(summary[["customer_id", "last_ordered_at"]], on="customer_id")
    changed = await _store_difference(session, scores, segment_map.names, now)
    if changed:
        await analyze(session, RfmScore.__tablename__)
    counts = {str(name): int(count) for name, count in scores["segment"].value_counts().items()}
    session.add(
        RfmRun(as_of=as_of, scored_at=now, customers=len(scores), changed=changed, segments=counts)
    )
    await session.commit()
    return RfmRescore(
        as_of=as_of, customers=len(scores), segments=counts, changed=changed, too_few=too_few
    )


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
    moment = epoch_microseconds(session.get_bind().dialect.name)
    position = case({name: number for number, name in enumerate(names)}, value=RfmScore.segment)
    statement = select(
        RfmScore.customer_id,
        moment(RfmScore.last_ordered_at),
        RfmScore.frequency,
        cents(RfmScore.monetary),
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
