"""A weekly campaign that ran twice, whose per-person counts are known by hand.

Campaign `weekly` (goal: conversions, holdout), one target (`default`) with variants a
and b. Run 1 starts at T0, run 2 at T0 + 3 d; each sends a minute after it starts.
Every order is a counted purchase of 10 EUR; the attribution window is 7 days.

| who | run 1        | run 2        | order    | note                                   |
|-----|--------------|--------------|----------|----------------------------------------|
| h   | holdout      | holdout      | T0 + 4 d | one holdout person, one order          |
| m   | sent a       | sent a       | T0 + 4 d | two messages, one order                |
| n   | sent b       | sent b       |          |                                        |
| x   | holdout      | sent a       | T0 + 4 d | held out, then messaged: messaged      |
| y   | sent a       | sent b       | T0 + 5 d | two variants: left out of the A/B total|
| z   | sent b       |              | T0 + 1 d | only in run 1                          |

Last touch: the orders of m and x go to their run-2 message (a), y's to run 2 (b), z's
to run 1 (b).
"""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import DeliveryStatus
from tests.broadcasts.audience import add_subscribers, campaign_from
from tests.broadcasts.reports.scenario import (
    T0,
    Purchase,
    add_deliveries,
    add_purchases,
    add_run,
)

RUN_2 = T0 + timedelta(days=3)
AFTER = T0 + timedelta(days=30)  # every window closed
WEEKLY = """
name: weekly
goal: conversions
holdout: 20
default:
  variants:
    - {name: a, split: 50, text: "Hola A"}
    - {name: b, split: 50, text: "Hola B"}
"""
PEOPLE = "hmnxyz"
HOLDOUT = "holdout"
RUN_1 = {"h": HOLDOUT, "m": "a", "n": "b", "x": HOLDOUT, "y": "a", "z": "b"}
RUN_2_PLAN = {"h": HOLDOUT, "m": "a", "n": "b", "x": "a", "y": "b"}
ORDERS = {"h": 4, "m": 4, "x": 4, "y": 5, "z": 1}  # days after T0


@dataclass(frozen=True, slots=True)
class TwoRuns:
    campaign_id: int
    run_ids: list[int]  # run 1, run 2


async def build_two_runs(session: AsyncSession, *, first_id: int = 101) -> TwoRuns:
    """The people, the campaign, its two runs and the orders."""
    ids = dict(zip(PEOPLE, await add_subscribers(session, 6, first_id=first_id), strict=True))
    campaign = await campaign_from(session, WEEKLY)
    (target,) = campaign.targets
    variant_ids = {variant.name: variant.id for variant in target.variants}
    run_ids = []
    for started_at, plan in ((T0, RUN_1), (RUN_2, RUN_2_PLAN)):
        run = await add_run(session, campaign, started_at=started_at)
        run_ids.append(run.id)
        rows = [
            (ids[who], target.id, variant_ids["a"], DeliveryStatus.EXCLUDED, HOLDOUT)
            if got == HOLDOUT
            else (ids[who], target.id, variant_ids[got], DeliveryStatus.SENT, None)
            for who, got in plan.items()
        ]
        await add_deliveries(session, run, rows, sent_at=started_at + timedelta(minutes=1))
    await add_purchases(
        session,
        {f"W-{who}": ids[who] for who in ORDERS},
        [Purchase(f"W-{who}", T0 + timedelta(days=days), 10.0) for who, days in ORDERS.items()],
    )
    await session.commit()
    return TwoRuns(campaign.id, run_ids)
