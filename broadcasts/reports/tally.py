"""One pass over the deliveries of a campaign's runs, the report's first query: how many
per run x target x variant x status x reason, when the first and the last message was
sent, and the lowest and highest delivery id.

The rest of the report is bounded by it: what recipients did is looked for in the events
since the first send, replies within 48 hours of the last one, clicks on the deliveries
between those ids (an index range instead of every click ever logged).
"""

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Delivery, DeliveryStatus

TALLY_COLUMNS = ["run_id", "target_id", "variant_id", "status", "reason", "count"]
_KEY = (Delivery.run_id, Delivery.target_id, Delivery.variant_id, Delivery.status, Delivery.reason)


@dataclass(frozen=True, slots=True)
class Tally:
    """`counts` has TALLY_COLUMNS; `span` is the first and last send (None: nothing sent);
    `ids` the lowest and highest delivery id (None: no deliveries)."""

    counts: pd.DataFrame
    span: tuple[datetime, datetime] | None
    ids: tuple[int, int] | None


async def tally_deliveries(session: AsyncSession, runs: Select[int]) -> Tally:
    # Status is in the key: each group's first and last send count when its status is
    # sent (cheaper than a CASE on every row).
    rows = await session.execute(
        select(
            *_KEY,
            func.count(),
            func.min(Delivery.sent_at),
            func.max(Delivery.sent_at),
            func.min(Delivery.id),
            func.max(Delivery.id),
        )
        .where(Delivery.run_id.in_(runs))
        .group_by(*_KEY)
    )
    groups = [tuple(row) for row in rows.all()]
    counts = pd.DataFrame([group[:6] for group in groups], columns=TALLY_COLUMNS)
    sent = [group for group in groups if group[3] == DeliveryStatus.SENT]
    firsts = [group[6] for group in sent if group[6] is not None]
    lasts = [group[7] for group in sent if group[7] is not None]
    span = (min(firsts), max(lasts)) if firsts and lasts else None
    ids = (min(group[8] for group in groups), max(group[9] for group in groups)) if groups else None
    return Tally(counts, span, ids)
