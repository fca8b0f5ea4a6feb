"""What a template writes for a value it prints without a filter (a number, or nothing),
and arithmetic that mixes a Decimal (customer money) with a float.

A missing value (`None`: no last name, no username, no purchase yet) writes nothing, not
"None": "Hi {{ first_name }} {{ last_name }}!" greets a subscriber without a last name as
"Hi Ana !", never "Hi Ana None!". A list (`{{ tags }}`, a quiz's several answers) writes
its items joined by ", ".

No float prints its binary noise (1416.3799999999999): `{{ x }}`, `a ~ x` and `join`
write a float or Decimal in plain digits, rounded to 15 significant digits (all that a
float holds), never in exponent form. (`'%.2f' % x` and `'{:,}'.format(x)` format as
Python does, as asked.) Arithmetic mixing a Decimal and a float reads the float as those
15 digits, so `customer.total_spent * 0.9` is an exact Decimal.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, localcontext
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context

from broadcasts.templates.limits import LimitExceeded, current

SIGNIFICANT = 15  # digits a float holds exactly, whatever its magnitude


@pass_context  # never run at compile time: it needs the render's limits
def printed(context: Context, value: Any) -> Any:
    """`shown`, as Jinja's finalize (for `{{ }}`) and for each piece `~` joins."""
    return shown(value)


def shown(value: Any) -> Any:
    """What a template writes for a value: nothing for None, a float or Decimal as
    plain_number, a list or tuple as its items shown and joined by ", " (`{{ tags }}` is
    "new, vip", not "('new', 'vip')"), anything else as it is."""
    if value is None:
        return ""
    if isinstance(value, float | Decimal):
        return plain_number(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(shown(item)) for item in value)
    return value


def plain_number(value: float | Decimal) -> str:
    """The number in plain digits, rounded to SIGNIFICANT significant digits and as many
    decimals at most (a Decimal's whole part is never rounded); infinities and NaN as
    Python writes them."""
    number = exact(value) if isinstance(value, float) else value
    if not number.is_finite():
        return str(value)
    check_digits(number, "the template prints")
    text = str(number)
    digits = len(text) - text.startswith("-") - ("." in text)
    if digits > SIGNIFICANT or "E" in text:  # `str` writes 1E+3 and 1E-7
        places = min(SIGNIFICANT, SIGNIFICANT - 1 - number.adjusted())
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -places:
            with wide_decimals():
                number = number.quantize(Decimal(1).scaleb(-max(places, 0))).normalize()
        text = format(number, "f")
    return text[1:] if number.is_zero() and text.startswith("-") else text  # no "-0"


def exact_operands(left: Any, right: Any) -> tuple[Any, Any]:
    """The operands of arithmetic, a float beside a Decimal read as its significant
    digits (Python refuses to mix the two)."""
    if isinstance(left, Decimal) and isinstance(right, float):
        return left, exact(right)
    if isinstance(left, float) and isinstance(right, Decimal):
        return exact(left), right
    return left, right


def exact(value: float) -> Decimal:
    """The float as the decimal it stands for: 0.1 + 0.2 is 0.3."""
    return Decimal(format(value, f".{SIGNIFICANT}g"))


def check_digits(number: Decimal, what: str) -> None:
    """`what` ends in a verb: "money() got"."""
    digits = current().limits.digits
    if number.adjusted() >= digits:
        raise LimitExceeded(
            f"{what} a number of more than {digits} digits; "
            f"a template's numbers may have at most {digits} digits"
        )


@contextmanager
def wide_decimals() -> Iterator[None]:
    """Room for every digit a template's number may have, and its decimals: Python's
    default 28 would refuse to round a 30-digit amount."""
    with localcontext(prec=current().limits.digits + 2 * SIGNIFICANT):
        yield
