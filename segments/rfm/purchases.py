"""What each customer has bought, summed by the database: the input of an RFM rescore.

`read_purchase_summary` gives one row per customer with a counted order (a purchase with
a positive amount) by the as-of moment. It comes from the purchase facts the CRM sync
keeps on each customer (one row per customer) when every counted order was placed by the
as-of day, as for the rescore after each sync; for an earlier as-of it is summed from the
orders (one GROUP BY over all of them). `customers_with_orders` counts the customers a
rescore as of a day would score, by the same rule. Times and money cross from the database
as integers (`core.db.epoch_microseconds`, `cents`), which decode many times faster than
timestamps and numerics.
"""

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import BigInteger, ColumnElement, Select, SQLColumnExpression, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import epoch_microseconds
from core.frames import read_integers
from crm_sync.models import Customer, Order
from segments.rfm.scoring import SUMMARY_COLUMNS
from segments.rules.comparison import day_start


async def read_purchase_summary(session: AsyncSession, *, as_of: date | datetime) -> pd.DataFrame:
    """Per customer, over orders that count as purchases with a positive amount placed by
    `as_of`: SUMMARY_COLUMNS (monetary summed in cents, as `rfm.score` does).

    Read from the customers' purchase facts when no customer's last counted order is
    after `as_of` (they then hold exactly these sums), else summed from the orders.
    """
    placed_by_as_of = _placed_by(as_of)
    moment = epoch_microseconds(session.get_bind().dialect.name)
    statement: Select[int, Any, int, int]
    if await _facts_hold(session, placed_by_as_of):
        statement = select(
            Customer.id,
            moment(Customer.last_order_at),
            Customer.orders_count,
            cents(Customer.total_spent),
        ).where(Customer.orders_count > 0)
    else:
        statement = (
            select(
                Order.customer_id,
                moment(func.max(Order.ordered_at)),
                func.count(),
                func.sum(cents(Order.amount)),
            )
            .where(*_counted(placed_by_as_of))
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


def cents(money: SQLColumnExpression[Any]) -> ColumnElement[int]:
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


async def customers_with_orders(session: AsyncSession, *, as_of: date | datetime) -> int:
    """How many customers have a counted order placed by `as_of`: the number a rescore as
    of that day compares with its minimum (an order dated later, a pre-order or a CRM's
    clock ahead, is not yet counted, by either)."""
    placed_by_as_of = _placed_by(as_of)
    counted: Select[int]
    if await _facts_hold(session, placed_by_as_of):
        counted = select(func.count()).select_from(Customer).where(Customer.orders_count > 0)
    else:
        counted = select(func.count(func.distinct(Order.customer_id))).where(
            *_counted(placed_by_as_of)
        )
    return int(await session.scalar(counted) or 0)


async def _facts_hold(
    session: AsyncSession,
    placed_by_as_of: Callable[[SQLColumnExpression[Any]], ColumnElement[bool]],
) -> bool:
    """Whether the customers' purchase facts hold exactly the orders counted by the as-of
    moment: no customer's last counted order is after it."""
    latest_purchase = select(func.max(Customer.last_order_at)).scalar_subquery()
    return bool(await session.scalar(select(placed_by_as_of(latest_purchase))))


def _counted(
    placed_by_as_of: Callable[[SQLColumnExpression[Any]], ColumnElement[bool]],
) -> tuple[ColumnElement[bool], ...]:
    """An order that counts: a purchase with a positive amount, placed by the as-of moment."""
    return (
        Order.counts_as_purchase.is_(True),
        Order.amount > 0,
        placed_by_as_of(Order.ordered_at),
    )
