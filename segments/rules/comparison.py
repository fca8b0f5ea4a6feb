"""What a comparison means, in Python: the reference the SQL compiler must agree with.

Missing data (None) makes every comparison false except `!=`, which is `not =`.
"""

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from segments.rules.tree import Duration, Op, Scalar, Value


def compare(op: Op, actual: object, value: Value, *, now: datetime) -> bool:
    """Does `actual <op> value` hold? `actual` is None when the fact is missing."""
    if op is Op.NE:
        return not compare(Op.EQ, actual, value, now=now)
    if op is Op.IS_SET:
        return actual is not None
    if actual is None:
        return False
    if op is Op.IN:
        values: Sequence[Scalar] = value if isinstance(value, tuple) else ()
        return any(compare(Op.EQ, actual, each, now=now) for each in values)
    if isinstance(actual, datetime):
        return _compare_moment(op, actual, value, now)
    if isinstance(actual, str) != isinstance(value, str):
        return False  # text never equals a number
    if op is Op.EQ:
        return actual == value
    return _ordered(op, actual, value)


def speaks(actual: object, value: Value) -> bool:
    """`lang = value` (or `lang in (...)`): a language without a region (`es`) is that
    language in any region (`es`, `es-mx`); one with a region (`es-mx`) is only itself.
    Codes compare in any case."""
    if not isinstance(actual, str):
        return False
    wanted = value if isinstance(value, tuple) else (value,)
    code = actual.lower()
    return any(
        isinstance(each, str)
        and (code == each.lower() or ("-" not in each and code.startswith(each.lower() + "-")))
        for each in wanted
    )


def _ordered(op: Op, actual: object, value: object) -> bool:
    if not isinstance(actual, int | float) or not isinstance(value, int | float):
        return False
    if op is Op.LT:
        return actual < value
    if op is Op.LE:
        return actual <= value
    if op is Op.GT:
        return actual > value
    return op is Op.GE and actual >= value


def _compare_moment(op: Op, actual: datetime, value: Value, now: datetime) -> bool:
    if op is Op.WITHIN and isinstance(value, Duration):
        return actual >= now - value.span
    if op is Op.BEFORE and isinstance(value, date):
        return actual < day_start(value)
    if op is Op.AFTER and isinstance(value, date):
        return actual >= day_start(value) + timedelta(days=1)
    return False


def money(amount: float) -> float:
    """`amount` to the cent: the sum of orders with cents, without the float error of its
    additions (0.1 + 0.2 is 0.30000000000000004), so `spent = 0.3` holds for it."""
    return _cents(amount) / 100


def average_money(spent: float, orders: int) -> float:
    """The average of `orders` (> 0) orders that sum to `spent`, to the cent, half a cent up."""
    return (2 * _cents(spent) + orders) // (2 * orders) / 100


def _cents(amount: float) -> int:
    """Whole cents in `amount` (>= 0, near a whole number of cents), half a cent up."""
    return math.floor(amount * 100 + 0.5)


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, time(), tzinfo=UTC)
