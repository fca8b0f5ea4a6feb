"""What a CRM sync and the rescore after it changed, for whom: the changes membership
follows after them (`segments.jobs.after_crm_sync`).

Read back from what those jobs stamp, so neither has to hand over lists of ids:
- a sync: the subscribers linked to a customer of the connector whose row, or one of
  whose orders, the run wrote (`updated_at` moves only when something did);
- a rescore: the customers whose RFM score it changed, and the subscribers whose ladder
  stage it changed (`changed_at`).

A link made or undone without the customer's data changing (a phone shared, a phone
changed in the CRM for someone already matched) is not stamped, and a customer scored no
longer has no row left to read: their subscribers' segments are brought up to date by the
periodic refresh. (A customer's orders changing is what ends their score, so the sync
reports those subscribers already.)
"""

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.models import Customer, Order, SyncRun
from segments.changes import changed, merged
from segments.models import LadderStage, RfmScore
from segments.rules.dependencies import CUSTOMER_DATA, Fact, FactKind


async def changed_by_sync(session: AsyncSession, *, run_id: int) -> dict[int, frozenset[Fact]]:
    """The subscribers whose CRM customers the sync run `run_id` changed: their customer
    attributes, purchase facts and RFM may all have moved."""
    run = (
        await session.execute(
            select(SyncRun.connector, SyncRun.started_at).where(SyncRun.id == run_id)
        )
    ).one_or_none()
    if run is None:
        return {}
    source, started = run
    wrote_orders = select(Order.customer_id).where(
        Order.source == source, Order.updated_at >= started
    )
    subscribers = await session.scalars(
        select(Customer.subscriber_id)
        .distinct()
        .where(
            Customer.source == source,
            Customer.subscriber_id.is_not(None),
            or_(Customer.updated_at >= started, Customer.id.in_(wrote_orders)),
        )
    )
    return changed((id_ for id_ in subscribers if id_ is not None), CUSTOMER_DATA)


async def changed_by_rescore(
    session: AsyncSession, *, since: datetime
) -> dict[int, frozenset[Fact]]:
    """The subscribers whose RFM score (through a linked customer) or ladder stage a
    rescore at or after `since` changed."""
    rescored = await session.scalars(
        select(Customer.subscriber_id)
        .distinct()
        .join(RfmScore, RfmScore.customer_id == Customer.id)
        .where(RfmScore.changed_at >= since, Customer.subscriber_id.is_not(None))
    )
    restaged = await session.scalars(
        select(LadderStage.subscriber_id).where(LadderStage.changed_at >= since)
    )
    return merged(
        changed((id_ for id_ in rescored if id_ is not None), [Fact(FactKind.RFM)]),
        changed(restaged, [Fact(FactKind.STAGE)]),
    )
