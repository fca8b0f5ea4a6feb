"""The CRM's orders as purchases journeys react to: each new counted order of a customer
linked to a subscriber, once (journeys.feed reads the orders table).

A CRM sync stores a run's orders batch by batch and links customers to subscribers when
it finishes (crm_sync.worker), so an order is often read before its customer is linked.
Such an order is looked at again every round until it is linked, for up to `LINK_WAIT`
(a sync's matching is minutes away at most); an order linked later triggers nothing.
Those waiting are kept in memory: a restart forgets them.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from crm_sync.models import Customer, Order
from journeys.feed import Feed
from journeys.matching import counted_orders, earlier_order
from journeys.triggers import OrderRow

LINK_WAIT = timedelta(hours=1)


class Purchases:
    def __init__(self, feed: Feed, *, clock: Clock) -> None:
        self.feed = feed
        self._clock = clock
        self._unlinked: dict[int, datetime] = {}  # counted orders read unlinked: since when

    async def read(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, limit: int
    ) -> tuple[int, list[OrderRow]]:
        """(new orders read, the purchases among them and among those waiting for their
        customer's link)."""
        new = await self.feed.read(sessionmaker, _orders, limit=limit)
        now = self._clock()
        waited = [key for key, since in self._unlinked.items() if since > now - LINK_WAIT]
        self._unlinked = {key: self._unlinked[key] for key in waited}
        again: Sequence[Any] = []
        if waited:
            async with sessionmaker() as session:
                again = (await session.execute(_orders(Order.id.in_(waited)))).all()
        bought = []
        for key, who, amount, at, first, counted in [*new, *again]:
            if not counted:
                continue
            if who is None:
                self._unlinked.setdefault(key, now)
                continue
            self._unlinked.pop(key, None)
            bought.append(OrderRow(key, who, amount, at, first))
        return len(new), bought

    async def save(self, session: AsyncSession, now: datetime) -> None:
        await self.feed.save(session, now)


def _orders(where: ColumnElement[bool]) -> Any:
    """Each order with its subscriber (None if its customer is not linked to one), whether
    it is their first counted order, and whether it counts."""
    columns = (Order.id, Customer.subscriber_id, Order.amount, Order.ordered_at)
    return (
        select(*columns, ~earlier_order(), counted_orders())
        .outerjoin(Customer, Customer.id == Order.customer_id)
        .where(where)
    )
