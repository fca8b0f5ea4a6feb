"""What a template may call, and the check on each that keeps what it builds small.

Jinja2's sandbox keeps templates away from Python's internals, but it lets them call any
public method and every filter, and several build a huge value from small arguments:
`'x'.center(10**9)`, `s.replace('', s)`, `'%0999999999d' % 1`, `[0]|batch(10**9, 0)`,
`lipsum(10**6)`. So templates get a list instead: the string, mapping, sequence and date
methods, the filters (segbot's own number filters among them: broadcasts.templates.formats)
and the globals below. Those whose result can outgrow their arguments are checked before
they run (a width, a replacement, a format's field widths, a repeat count, an exponent);
the sandbox measures every result after.
"""

import functools
import math
import re
import string
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from types import BuiltinMethodType, MethodType
from typing import Any

from jinja2 import pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter, sync_do_join
from jinja2.nodes import EvalContext
from jinja2.runtime import BlockReference, LoopContext, Macro, Undefined
from jinja2.utils import Cycler, Joiner
from jinja2.utils import Namespace as JinjaNamespace

from broadcasts.templates import formats, printing
from broadcasts.templates.limits import (
    LimitExceeded,
    TemplateLimits,
    current,
    text_size,
    too_long,
    too_many_digits,
)

STRING_METHODS = frozenset(
    {
        *("capitalize", "casefold", "center", "count", "endswith", "find", "index"),
        *("isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "islower", "isnumeric"),
        *("isspace", "istitle", "isupper", "ljust", "lower", "lstrip", "partition"),
        *("removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust"),
        *("rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip"),
        *("striptags", "swapcase", "title", "unescape", "upper", "zfill"),
    }
)
_PADDING = frozenset({"center", "ljust", "rjust", "zfill"})
_MAPPING_METHODS = frozenset({"get", "items", "keys", "values"})
_SEQUENCE_METHODS = frozenset({"count", "index"})
_DATE_METHODS = frozenset({"isoformat", "isoweekday", "strftime", "weekday"})
FILTERS = frozenset(
    {
        *("abs", "attr", "capitalize", "center", "count", "d", "default", "dictsort", "e"),
        *("escape", "filesizeformat", "first", "float", "forceescape", "format", "groupby"),
        *("int", "items", "join", "last", "length", "list", "lower", "map", "max", "min"),
        *("reject", "rejectattr", "replace", "reverse", "round", "safe", "select"),
        *("selectattr", "sort", "string", "striptags", "sum", "title", "trim", "truncate"),
        *("unique", "upper", "urlencode", "wordcount"),
        *formats.FILTERS,
    }
)
# Templates' own callables: running one nests (macros, `loop(...)`, `self.block()`).
NESTING = (Macro, LoopContext, BlockReference)
# A `%` conversion's width and precision (`%%` is a literal percent sign).
# `round`'s precision: a float has 17 significant digits, so rounding past 20 places
# either way changes nothing, while its 'floor' and 'ceil' multiply by 10 ** precision
# in one step no budget can interrupt (10 ** 10_000_000: seconds of CPU).
ROUND_PRECISION = 20
_PERCENT = re.compile(r"%%|%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_NUMBER = re.compile(r"\d+")


class Namespace(JinjaNamespace):
    """Jinja's `namespace()`, printed without its contents: what it holds is reached
    (and measured) attribute by attribute, so it cannot hide a huge value."""

    def __repr__(self) -> str:
        return "<namespace>"


def bounded_range(*args: int) -> range:
    """`range()`, at most `range` items long."""
    numbers = range(*args)
    limit = current().limits.range
    try:
        too_big = len(numbers) > limit
    except OverflowError:
        too_big = True
    if too_big:
        raise LimitExceeded(
            f"range() of more than {limit} items; "
            f"a template's range() may have at most {limit} items"
        )
    return numbers


GLOBALS: dict[str, Any] = {
    "range": bounded_range,
    "dict": dict,
    "namespace": Namespace,
    "cycler": Cycler,
    "joiner": Joiner,
}
_GLOBAL_IDS = frozenset(id(value) for value in GLOBALS.values())


# Objects templates may call (an Undefined, called, raises its own "is undefined").
_CALLABLE_OBJECTS = (*NESTING, Joiner, Undefined)
_FORMAT_METHODS = frozenset({"format", "format_map"})


def check_call(obj: object, args: tuple[Any, ...], limits: TemplateLimits) -> None:
    """SecurityError unless templates may call `obj`; LimitExceeded if this call would
    build a value past the limits."""
    if not isinstance(obj, BuiltinMethodType | MethodType):
        if isinstance(obj, _CALLABLE_OBJECTS) or id(obj) in _GLOBAL_IDS:
            return
        # The sandbox hands out str.format as a wrapper that sandboxes its fields.
        pattern = _format_pattern(getattr(obj, "__wrapped__", None))
        if pattern is None:
            name = getattr(obj, "__name__", type(obj).__name__)
            raise SecurityError(f"templates cannot call {name}")
        _check_widths(_format_widths(pattern), limits)
        return
    receiver, name = obj.__self__, obj.__name__
    if isinstance(receiver, str) and name in STRING_METHODS:
        if name in _PADDING and args:
            _check_width(args[0], limits)
        elif name == "replace" and len(args) >= 2:
            _check_replace(limits, receiver, *args[:3])
    elif not (
        (isinstance(receiver, Mapping) and name in _MAPPING_METHODS)
        or (isinstance(receiver, list | tuple) and name in _SEQUENCE_METHODS)
        or (isinstance(receiver, date) and name in _DATE_METHODS)
        or isinstance(receiver, LoopContext | Cycler | BlockReference)
    ):
        raise SecurityError(f"templates cannot call {type(receiver).__name__}.{name}()")


def _format_pattern(method: object) -> str | None:
    """The string whose `format` (or `format_map`) `method` is, if it is one."""
    if isinstance(method, BuiltinMethodType | MethodType) and method.__name__ in _FORMAT_METHODS:
        pattern = method.__self__
        return pattern if isinstance(pattern, str) else None
    return None


def check_binop(operator: str, left: Any, right: Any, limits: TemplateLimits) -> None:
    """LimitExceeded if `left operator right` would be too big to build."""
    if operator == "*":
        _check_product(left, right, limits)
    elif operator == "**":
        _check_power(left, right, limits)
    elif operator == "%" and isinstance(left, str):
        _check_widths(_percent_widths(left), limits)


# Field widths of format patterns, cached: a template formats with the same few patterns
# for every subscriber. -1 stands for a width the arguments give (`%*d`, `{:{w}}`).
@functools.lru_cache(maxsize=256)
def _percent_widths(pattern: str) -> tuple[int, ...]:
    return tuple(
        _width(size) for match in _PERCENT.finditer(pattern) for size in match.groups() if size
    )


@functools.lru_cache(maxsize=256)
def _format_widths(pattern: str) -> tuple[int, ...]:
    widths: list[int] = []
    for _text, _field, spec, _conversion in string.Formatter().parse(pattern):
        if spec and "{" in spec:
            widths.append(-1)
        widths += [_width(size) for size in _NUMBER.findall(spec or "")]
    return tuple(widths)


def _width(size: str) -> int:
    """A width as written (`*` for one from the arguments); past 10 digits, 10 digits."""
    return -1 if size == "*" else int(size.lstrip("0")[:10] or "0")


def _check_widths(widths: tuple[int, ...], limits: TemplateLimits) -> None:
    for width in widths:
        if width < 0:
            raise LimitExceeded("a field width taken from the arguments (%*d, {:{w}})")
        _check_width(width, limits)


def _check_width(width: object, limits: TemplateLimits) -> None:
    if isinstance(width, int) and width > limits.length:
        raise LimitExceeded(too_long(f"padding to {width} characters would make", limits))


def _check_replace(
    limits: TemplateLimits, text: object, old: object, new: object, count: object = -1
) -> None:
    source, old, new = str(text), str(old), str(new)
    hits = source.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(source) + hits * (len(new) - len(old)) > limits.length:
        raise LimitExceeded(too_long("replace() would make", limits))


def _check_product(left: Any, right: Any, limits: TemplateLimits) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > _bits(limits) + 1:
            raise LimitExceeded(too_many_digits(f"{_short(left)} * {_short(right)}", limits))
        return
    count, repeated = (right, left) if isinstance(right, int) else (left, right)
    if (
        isinstance(count, int)
        and isinstance(repeated, str | list | tuple)
        and text_size(repeated, limits.length) * count > limits.length
    ):
        raise LimitExceeded(too_long(f"{type(repeated).__name__} * {count} would make", limits))


def _check_power(base: Any, exponent: Any, limits: TemplateLimits) -> None:
    if isinstance(base, int) and isinstance(exponent, int):
        if abs(base) > 1 and (abs(base).bit_length() - 1) * exponent > _bits(limits):
            raise LimitExceeded(too_many_digits(f"{_short(base)} ** {_short(exponent)}", limits))
    elif _magnitude(base, exponent) >= limits.digits:  # floats and Decimals overflow instead
        raise LimitExceeded(too_many_digits(f"{base} ** {exponent}", limits))


def _magnitude(base: Any, exponent: Any) -> float:
    """About how many digits `base ** exponent` has before the point (0 if not numbers)."""
    numbers = int | float | Decimal
    if not (isinstance(base, numbers) and isinstance(exponent, numbers)) or not base:
        return 0.0
    try:
        return math.log10(abs(float(base))) * float(exponent)
    except (OverflowError, ValueError):  # inf or NaN: Python's own error says it
        return 0.0


def _short(number: int) -> str:
    return str(number) if number.bit_length() <= 64 else f"<a {number.bit_length()}-bit number>"


def _bits(limits: TemplateLimits) -> int:
    """Bits in the largest number allowed (10 ** digits needs 3.33 bits a digit)."""
    return limits.digits * 10 // 3 + 1


# -- filters -------------------------------------------------------------------------------
def filters(builtin: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """The filters templates may use: the listed built-in ones, each counted as an
    operation, checked beforehand where its arguments can make it outgrow its input,
    and its result measured."""
    chosen = {**builtin, "join": _join, **formats.FILTERS}
    return {name: _guarded(chosen[name], _FILTER_CHECKS.get(name)) for name in FILTERS}


def tests(builtin: Mapping[str, Any]) -> dict[str, Any]:
    """Jinja's tests, each use counted as an operation: `select('in', items)` runs one for
    every item of a list, and so is timed as a loop is."""
    return {name: _guarded(test, None) for name, test in builtin.items()}


def _guarded(function: Callable[..., Any], check: Callable[..., None] | None) -> Callable[..., Any]:
    @functools.wraps(function)  # keeps Jinja's pass_context / pass_eval_context marks
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.spend()
        if check is not None:
            check(budget.limits, *args, **kwargs)
        return budget.measure(function(*args, **kwargs))

    return guarded


@pass_eval_context
def _join(
    eval_ctx: EvalContext, value: Any, d: str = "", attribute: str | int | None = None
) -> str:
    """The `join` filter, its total length known before it is built, numbers in it
    written as `{{ }}` writes them."""
    items = list(value)
    if attribute is not None:
        items = [make_attrgetter(eval_ctx.environment, attribute)(item) for item in items]
    limits = current().limits
    if text_size(items, limits.length) + len(str(d)) * len(items) > limits.length:
        raise LimitExceeded(too_long("join() would make", limits))
    return sync_do_join(eval_ctx, [printing.shown(item) for item in items], d)


def _check_center(limits: TemplateLimits, value: object, width: object = 80) -> None:
    _check_width(width, limits)


def _check_format(limits: TemplateLimits, value: object, *args: object, **kwargs: object) -> None:
    _check_widths(_percent_widths(str(value)), limits)


def _check_replace_filter(
    limits: TemplateLimits,
    eval_ctx: EvalContext,
    text: object,
    old: object,
    new: object,
    count: int | None = None,
) -> None:
    _check_replace(limits, text, old, new, -1 if count is None else count)


def _check_sum(
    limits: TemplateLimits,
    environment: object,
    iterable: object,
    attribute: object = None,
    start: object = 0,
) -> None:
    """`sum` adds numbers: adding lists (`start=[]`) would copy each partial sum."""
    if not isinstance(start, int | float):
        raise LimitExceeded("sum() adds numbers only in templates (start must be a number)")


def _check_round(
    limits: TemplateLimits, value: object, precision: object = 0, method: object = "common"
) -> None:
    if not isinstance(precision, int) or abs(precision) > ROUND_PRECISION:
        raise LimitExceeded(
            f"round() takes a precision from -{ROUND_PRECISION} to {ROUND_PRECISION} places"
        )


_FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "center": _check_center,
    "format": _check_format,
    "replace": _check_replace_filter,
    "round": _check_round,
    "sum": _check_sum,
}
