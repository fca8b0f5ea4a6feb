"""Numbers as subscribers read them: the `money`, `number`, `percent` and `date` filters,
written by Babel in the subscriber's locale.

The locale is the subscriber's Telegram language ("es", "pt-br"), else its language part
("pt"), else English. `money` formats in its argument's currency, else the customer's
(broadcasts.compose: their latest purchase's, else the shop's latest order's), else in
none: the amount with two decimals and no symbol.

Each filter refuses, with a sentence naming it, what is not a number (or a date) and a
number of more digits than a template may have, before Babel sees it; the rest of
Babel's work is bounded by its input. Locales and patterns are prepared once: a filter
costs 10-20 µs (benchmarks/templates.py).
"""

import copy
import functools
import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import cast

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import (
    NumberPattern,
    get_currency_precision,
    get_currency_symbol,
    list_currencies,
)
from jinja2 import pass_context
from jinja2.runtime import Context, Undefined

from broadcasts.templates.context import SAMPLE_DAY, SAMPLE_NUMBER, CustomerFacts, SampleAttribute
from broadcasts.templates.limits import current
from broadcasts.templates.printing import check_digits, exact, wide_decimals

MAX_DECIMALS = 10
DATE_STYLES = ("short", "medium", "long", "full")
ENGLISH = Locale("en")
# A number kept as text (CRM attributes often are): digits, a sign, a decimal point.
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


@functools.lru_cache(maxsize=256)
def locale_of(language: str | None) -> Locale:
    """The locale of a Telegram language code ("pt-br"), else of its language part,
    else English."""
    if language:
        tag = language.replace("_", "-")
        for candidate in (tag, tag.split("-")[0]):
            try:
                return Locale.parse(candidate, sep="-")
            except (UnknownLocaleError, ValueError):
                continue
    return ENGLISH


@pass_context
def money(context: Context, value: object, currency: object = None) -> str:
    """`value` as an amount of money in the subscriber's locale and currency, or in
    `currency` (an ISO 4217 code)."""
    number = _number(value, "money")
    code = _currency(context, currency)
    locale = _locale(context)
    pattern = _pattern(locale, "number", 2) if code is None else _money_pattern(locale, code)
    with wide_decimals():
        return str(pattern.apply(number, locale))


@pass_context
def number(context: Context, value: object, decimals: object = None) -> str:
    """`value` in the subscriber's locale: up to 3 decimals, or exactly `decimals`."""
    places = None if decimals is None else _decimals(decimals, "number")
    amount = _number(value, "number")
    locale = _locale(context)
    with wide_decimals():
        return str(_pattern(locale, "number", places).apply(amount, locale))


@pass_context
def percent(context: Context, value: object, decimals: object = 0) -> str:
    """`value`, a ratio (0.256), as a percentage in the subscriber's locale: "26%", or
    "25.6%" with decimals=1."""
    places = _decimals(decimals, "percent")
    ratio = _number(value, "percent")
    locale = _locale(context)
    with wide_decimals():
        return str(_pattern(locale, "percent", places).apply(ratio, locale))


@pass_context
def calendar_date(context: Context, value: object, style: object = "medium") -> str:
    """`value` (a date, or one written as ISO text) in the subscriber's locale, in one of
    DATE_STYLES or a CLDR pattern such as 'd MMMM'."""
    day = _day(value)
    pattern = str(style)
    try:
        return str(format_date(day, pattern, locale=_locale(context)))
    except (AttributeError, LookupError, ValueError) as error:  # Babel, on a bad pattern
        raise ValueError(
            f"date: cannot format with {pattern!r} ({error}); use one of "
            f"{', '.join(DATE_STYLES)} or a date pattern such as 'd MMMM y'"
        ) from None


FILTERS: dict[str, Callable[..., str]] = {
    "money": money,
    "number": number,
    "percent": percent,
    "date": calendar_date,
}
# The variables each filter reads of the subscriber besides its arguments: the locale,
# and `money` the customer's currency (broadcasts.templates.variables_read).
READS: dict[str, frozenset[str]] = {
    "money": frozenset({"language", "customer"}),
    "number": frozenset({"language"}),
    "percent": frozenset({"language"}),
    "date": frozenset({"language"}),
}


def _number(value: object, name: str) -> Decimal:
    if isinstance(value, SampleAttribute):
        return SAMPLE_NUMBER
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, float):
        number = exact(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(current().measure(value))
    elif isinstance(value, str) and _NUMBER_TEXT.fullmatch(value.strip()):
        number = Decimal(value.strip())
    else:
        raise ValueError(f"{name} needs a number; got {_described(value)}")
    if not number.is_finite():
        raise ValueError(f"{name} needs a finite number; got {number}")
    check_digits(number, f"{name}() got")
    return number


def _day(value: object) -> date:
    if isinstance(value, SampleAttribute):
        return SAMPLE_DAY
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, date):  # a datetime is one too
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"date needs a date (or ISO text, 2026-01-31); got {_described(value)}")


def _described(value: object) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "…"
        return f"the text {shown!r}"
    return f"a {type(value).__name__}"


def _decimals(decimals: object, name: str) -> int:
    if isinstance(decimals, bool) or not isinstance(decimals, int):
        raise ValueError(f"{name}: decimals must be a whole number; got {_described(decimals)}")
    if not 0 <= decimals <= MAX_DECIMALS:
        raise ValueError(f"{name}: decimals must be from 0 to {MAX_DECIMALS}; got {decimals}")
    return decimals


def _currency(context: Context, currency: object) -> str | None:
    if currency is None:
        customer = context.parent.get("customer")
        return customer.currency if isinstance(customer, CustomerFacts) else None
    code = str(currency).upper()
    if code not in _currencies():
        raise ValueError(
            f"money: unknown currency {str(currency)[:40]!r}; "
            "name it by its ISO 4217 code, such as EUR or USD"
        )
    return code


@functools.cache  # on first use: reading Babel's table takes milliseconds
def _currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def _locale(context: Context) -> Locale:
    """The subscriber's: from the variables the render was given, not a `set` over them."""
    language = context.parent.get("language")
    return locale_of(language if isinstance(language, str) else None)


@functools.lru_cache(maxsize=1024)
def _pattern(locale: Locale, kind: str, decimals: int | None) -> NumberPattern:
    """The locale's number (or percent) pattern, with exactly `decimals` decimals."""
    formats = locale.percent_formats if kind == "percent" else locale.decimal_formats
    pattern = cast(NumberPattern, formats[None])
    if decimals is None:
        return pattern
    fixed = copy.copy(pattern)
    fixed.frac_prec = (decimals, decimals)
    return fixed


@functools.lru_cache(maxsize=1024)
def _money_pattern(locale: Locale, currency: str) -> NumberPattern:
    """The locale's currency pattern with the currency's symbol and decimals in it: what
    Babel's format_currency does on each call, looking the currency's name up too."""
    pattern = copy.copy(cast(NumberPattern, locale.currency_formats["standard"]))
    symbol = get_currency_symbol(currency, locale)
    positive, negative = pattern.prefix
    pattern.prefix = (positive.replace("¤", symbol), negative.replace("¤", symbol))
    positive, negative = pattern.suffix
    pattern.suffix = (positive.replace("¤", symbol), negative.replace("¤", symbol))
    pattern.frac_prec = (get_currency_precision(currency),) * 2
    return pattern
