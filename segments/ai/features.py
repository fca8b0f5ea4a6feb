"""One row of facts per subscriber, for clustering and lookalikes: the database filters and
aggregates, the rows cross in chunks into numpy arrays, and nothing loops per subscriber.

Feature groups (`GROUP_NAMES`; a marketer's description may pick some, `describe.py`):
- rfm: `recency frequency monetary` (the best linked customer's RFM scores 1-5, 0 without
  one) and `buyer` (1 with a counted order);
- engagement: `reads clicks replies reactions presses`, events per week over the window,
  and `tenure`, days subscribed (`engagement.py`);
- hours: `night morning afternoon evening`, the shares of their engagement per quarter of
  their own day (`engagement.py`);
- ladder: `stage`, 0 (unaware) to 4 (most aware);
- demographics: `lang gender age_band income education` (text, "unknown" when missing) and
  `age` (years, NaN when unknown) (`people.py`);
- geography: `country city`;
- content: `clicked:TAG`, 1 when they clicked a tracked link with that tag;
- interests: `tag:TAG`, 1 when they carry the tag (both in `tag_columns.py`).
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.models import Customer
from segments.ai.columns import Array, positions, read_columns
from segments.ai.engagement import ENGAGEMENT, HOURS, engagement
from segments.ai.people import DEMOGRAPHICS, GEOGRAPHY, read_people
from segments.ai.tag_columns import carried_tags, clicked_tags
from segments.models import RfmScore
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules import Rule

RFM = ("recency", "frequency", "monetary", "buyer")
GROUP_NAMES = (
    "rfm", "engagement", "hours", "ladder", "demographics", "geography", "content", "interests",
)  # fmt: skip


@dataclass(frozen=True)
class Features:
    """`frame` is indexed by subscriber id, ascending; each column is in one group and is
    numeric, categorical (text, "unknown" when missing) or binary (0/1)."""

    frame: pd.DataFrame
    groups: dict[str, tuple[str, ...]]
    categorical: frozenset[str] = field(default_factory=frozenset)
    binary: frozenset[str] = field(default_factory=frozenset)

    @property
    def columns(self) -> list[str]:
        return [column for columns in self.groups.values() for column in columns]

    @property
    def numeric(self) -> list[str]:
        return [c for c in self.columns if c not in self.categorical and c not in self.binary]

    def only(self, groups: Iterable[str]) -> "Features":
        """These features limited to `groups` (the frame keeps every column)."""
        chosen = {name: self.groups[name] for name in groups if self.groups.get(name)}
        return Features(self.frame, chosen, self.categorical, self.binary)

    def rows(self, ids: Collection[int]) -> "Features":
        """The same features for the subscribers `ids` only."""
        frame = self.frame[self.frame.index.isin(list(ids))]
        return Features(frame, self.groups, self.categorical, self.binary)


async def build_features(
    session: AsyncSession,
    *,
    now: datetime,
    window_days: int,
    audience: Rule | None = None,
    rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names,
) -> Features:
    """The features of every subscriber `audience` selects at `now` (everyone if None)."""
    people = await read_people(session, now, audience, rfm_segments)
    index = people.index
    rates, shares = await engagement(session, people, now=now, window_days=window_days)
    clicked = await clicked_tags(session, index)
    tagged = await carried_tags(session, index)
    columns = {
        **people.facts,
        **dict(zip(RFM, await _rfm(session, index), strict=True)),
        **dict(zip(ENGAGEMENT, rates.T, strict=True)),
        **dict(zip(HOURS, shares.T, strict=True)),
        **clicked,
        **tagged,
    }
    return Features(
        frame=pd.DataFrame(columns, index=index, copy=False),
        groups={
            "rfm": RFM,
            "engagement": (*ENGAGEMENT, "tenure"),
            "hours": HOURS,
            "ladder": ("stage",),
            "demographics": (*DEMOGRAPHICS, "age"),
            "geography": GEOGRAPHY,
            "content": tuple(clicked),
            "interests": tuple(tagged),
        },
        categorical=frozenset(DEMOGRAPHICS + GEOGRAPHY),
        binary=frozenset([*clicked, *tagged]),
    )


async def _rfm(session: AsyncSession, index: pd.Index) -> list[Array]:
    """The RFM columns for the subscribers of `index`: the best of their customers'
    scores, 0 when none is linked or scored."""
    statement = (
        select(
            Customer.subscriber_id,
            func.coalesce(func.max(RfmScore.r), 0),
            func.coalesce(func.max(RfmScore.f), 0),
            func.coalesce(func.max(RfmScore.m), 0),
            func.max(case((Customer.orders_count > 0, 1), else_=0)),
        )
        .outerjoin(RfmScore, RfmScore.customer_id == Customer.id)
        .where(Customer.subscriber_id.is_not(None))
        .group_by(Customer.subscriber_id)
    )
    (owners, *scores), _ = await read_columns(session, statement, ["int"] * (1 + len(RFM)))
    rows, linked = positions(index, owners)
    columns = [np.zeros(len(index), dtype=np.int64) for _ in RFM]
    for column, score in zip(columns, scores, strict=True):
        column[rows[linked]] = score[linked]
    return columns
