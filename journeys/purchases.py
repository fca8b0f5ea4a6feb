"""The CRM's orders as purchases journeys react to: each new counted order of a customer
linked to a subscriber, once (journeys.feed reads the orders table).

A CRM sync stores a run's orders batch by batch and links customers to subscribers when
it finishes (crm_sync.worker), so an order is often read before its customer is linked.
Such an order waits, for up to `LINK_WAIT` (a sync's matching is minutes away at most);
an order linked later triggers nothing. Those waiting are kept in memory, by customer (a
restart forgets them), and looked at again every `RECHECK`: which of their customers
are linked now, in statements of `CHUNK` ids, then the orders of those alone. An import
of a shop's history can leave hundreds of thousands of orders of customers no subscriber
will ever match; asking about each of them every round stalled the runner, and a list of
them in one statement was more than SQLite takes.
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
RECHECK = timedelta(seconds=10)
CHUNK = 500


class Purchases:
    def __init__(self, feed: Feed, *, clock: Clock) -> None:
        self.feed = feed
        self._clock = clock
        # Counted orders read unlinked, by customer: order id -> since when.
        self._unlinked: dict[int, dict[int, datetime]] = {}
        self._checked: datetime | None = None  # when those were last looked at

    async def read(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, limit: int
    ) -> tuple[int, list[OrderRow]]:
        """(new orders read, the purchases among them and among those waiting for their
        customer's link)."""
        new = await self.feed.read(sessionmaker, _orders, limit=limit)
        now = self._clock()
        again: Sequence[Any] = []
        if self._unlinked and (self._checked is None or now - self._checked >= RECHECK):
            self._checked = now
            self._forget_older_than(now - LINK_WAIT)
            again = await self._linked_since(sessionmaker)
        bought = []
        for key, customer, who, amount, at, first, counted in [*new, *again]:
            if not counted:
                continue
            if who is None:
                self._unlinked.setdefault(customer, {}).setdefault(key, now)
                continue
            waiting = self._unlinked.get(customer, {})
            waiting.pop(key, None)
            if not waiting:
                self._unlinked.pop(customer, None)
            bought.append(OrderRow(key, who, amount, at, first))
        return len(new), bought

    def _forget_older_than(self, oldest: datetime) -> None:
        for customer in list(self._unlinked):
            kept = {key: since for key, since in self._unlinked[customer].items() if since > oldest}
            if kept:
                self._unlinked[customer] = kept
            else:
                del self._unlinked[customer]

    async def _linked_since(self, sessionmaker: async_sessionmaker[AsyncSession]) -> list[Any]:
        """The waiting orders whose customers are linked now."""
        customers = list(self._unlinked)
        async with sessionmaker() as session:
            linked: list[int] = []
            for start in range(0, len(customers), CHUNK):
                chunk = customers[start : start + CHUNK]
                linked += (
                    await session.scalars(
                        select(Customer.id).where(
                            Customer.id.in_(chunk), Customer.subscriber_id.is_not(None)
                        )
                    )
                ).all()
            keys = [key for customer in linked for key in self._unlinked[customer]]
            rows: list[Any] = []
            for start in range(0, len(keys), CHUNK):
                chunk = keys[start : start + CHUNK]
                rows += (await session.execute(_orders(Order.id.in_(chunk)))).all()
        return rows

    async def save(self, session: AsyncSession, now: datetime) -> None:
        await self.feed.save(session, now)


def _orders(where: ColumnElement[bool]) -> Any:
    """Each order with its customer and subscriber (None if the customer is not linked to
    one), whether it is their first counted order, and whether it counts."""
    columns = (
        Order.id,
        Order.customer_id,
        Customer.subscriber_id,
        Order.amount,
        Order.ordered_at,
    )
    return (
        select(*columns, ~earlier_order(), counted_orders())
        .outerjoin(Customer, Customer.id == Order.customer_id)
        .where(where)
    )
