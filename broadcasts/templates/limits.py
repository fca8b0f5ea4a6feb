"""How much one message's template may do, and the budget that counts it as it renders.

A template is written once and rendered for every subscriber, inside the process that
sends (or, for a preview, the bot's event loop). So a render has a budget: the loops it
may run, the operations it may do, the size of any value it builds and of its output,
how deep its macros may nest, what its macros and blocks write, and the CPU time it
may take. `Budget` counts; the
sandbox (broadcasts.templates.sandbox) spends from it at every step. Going past a limit
raises LimitExceeded naming the limit, before the step that would go past it runs
whenever its size is known beforehand (a repeat count, a width, an exponent).

Counting costs a few hundred nanoseconds per step: cheap enough for every send. The CPU
time leaves out the garbage collector's: a full collection of a sending process's heap
takes it tens to hundreds of milliseconds, in whatever render allocates when one falls
due, and failed that subscriber's message for nothing the template did.
"""

import functools
import gc
import time
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from contextvars import ContextVar, Token
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

T = TypeVar("T")

# The CPU clock is read once every this many operations (reading it costs a system
# call), and when the render ends: one step no count can stop (a filter, a test) that
# ran past the time still fails the render, so a template saved is one the sample
# subscriber's message renders within it.
_CLOCK_EVERY = 16


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    """Per message rendered."""

    length: int = 20_000  # characters of output, and characters (or items) of any value
    iterations: int = 10_000  # loop iterations, all loops together
    range: int = 10_000  # items in one range()
    digits: int = 100  # digits of any number computed (whole, or a Decimal's whole part)
    depth: int = 20  # macros (and recursive loops) running inside one another
    written: int = 200_000  # characters macros and blocks write, all together
    operations: int = 100_000  # calls, filters, arithmetic, literals, loop iterations
    seconds: float = 0.25  # CPU time


LIMITS = TemplateLimits()


class _Collections:
    """The CPU time garbage collections have taken, in all (each is timed in the thread
    that runs it, from its start to its end)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._started


_COLLECTIONS = _Collections()
gc.callbacks.append(_COLLECTIONS)


class LimitExceeded(Exception):  # noqa: N818 -- broadcasts.templates raises TemplateLimitError
    """A template went past one of its limits; the message names the limit."""


class Budget:
    """What one render has spent so far."""

    __slots__ = (
        "_collected",
        "_deadline",
        "_largest",
        "depth",
        "iterations",
        "limits",
        "operations",
        "written",
    )

    def __init__(self, limits: TemplateLimits) -> None:
        self.limits = limits
        self.operations = 0
        self.iterations = 0
        self.depth = 0
        self.written = 0
        self._largest = _ceiling(limits.digits)
        self._deadline = time.thread_time() + limits.seconds
        self._collected = _COLLECTIONS.seconds

    def spend(self) -> None:
        """One operation; past the operation limit or the CPU time, LimitExceeded."""
        self.operations += 1
        if self.operations > self.limits.operations:
            raise LimitExceeded(
                f"more than {self.limits.operations} operations; "
                f"a template may do at most {self.limits.operations} per message"
            )
        if self.operations % _CLOCK_EVERY == 0:
            self.check_time()

    def check_time(self) -> None:
        """Past the CPU time since the render began, garbage collections aside,
        LimitExceeded."""
        collecting = _COLLECTIONS.seconds - self._collected
        if time.thread_time() - collecting >= self._deadline:
            raise LimitExceeded(
                f"rendering took more than {self.limits.seconds:g} s of CPU time; "
                f"a template may take at most {self.limits.seconds:g} s per message"
            )

    def counted(self, iterable: Iterable[T]) -> Iterator[T]:
        """`iterable`, each item spending one loop iteration."""
        for item in iterable:
            self.iterations += 1
            if self.iterations > self.limits.iterations:
                raise LimitExceeded(
                    f"more than {self.limits.iterations} loop iterations; a template may "
                    f"loop at most {self.limits.iterations} times in all per message"
                )
            self.spend()
            yield item

    def enter(self) -> None:
        """A macro or recursive loop starts inside the running ones."""
        self.depth += 1
        if self.depth > self.limits.depth:
            raise LimitExceeded(
                f"macros or recursive loops nested more than {self.limits.depth} deep "
                f"(one that calls itself?); a template may nest them at most "
                f"{self.limits.depth} deep"
            )

    def leave(self) -> None:
        self.depth -= 1

    def write(self, piece: object) -> None:
        """A macro or block writes `piece` to the text it will return: it is joined only
        at the end, so its length is counted as it is written."""
        self.spend()
        self.written += text_size(piece, self.limits.written)
        if self.written > self.limits.written:
            raise LimitExceeded(
                f"macros and blocks wrote more than {self.limits.written} characters; "
                f"a template's macros and blocks may write at most {self.limits.written} "
                "in all per message"
            )

    def measure(self, value: T) -> T:
        """`value` if it is within the limits on numbers and sizes; else LimitExceeded."""
        if isinstance(value, int):
            if abs(value) >= self._largest:
                raise LimitExceeded(too_many_digits("a step", self.limits))
        elif isinstance(value, Decimal):  # cheap to make huge: Decimal(10) ** 10**9
            if value.is_finite() and value.adjusted() >= self.limits.digits:
                raise LimitExceeded(too_many_digits("a step", self.limits))
        elif text_size(value, self.limits.length) > self.limits.length:
            raise LimitExceeded(too_long("a step would make a value of", self.limits))
        return value


@functools.cache
def _ceiling(digits: int) -> int:
    """The smallest number with more than `digits` digits."""
    return int(10**digits)


def too_long(what: str, limits: TemplateLimits) -> str:
    """`what` is a phrase ending in a verb: "str * 50000000 would make"."""
    return (
        f"{what} more than {limits.length} characters (or items); "
        f"a template's values and output may have at most {limits.length}"
    )


def too_many_digits(what: str, limits: TemplateLimits) -> str:
    return (
        f"{what} would make a number of more than {limits.digits} digits; "
        f"a template's numbers may have at most {limits.digits} digits"
    )


def text_size(value: object, limit: int) -> int:
    """About how many characters `value` takes as text (a list as `[...]`), counted only
    up to just past `limit`: a list holding one long string many times counts it each
    time, as printing it would. Iterative, so nesting costs no stack."""
    if isinstance(value, str):
        return len(value)
    total = 0
    pending = [value]
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            if total <= limit:
                pending += [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple | set | frozenset | KeysView | ValuesView | ItemsView):
            total += 2 + 2 * len(item)
            if total <= limit:
                pending += list(item)
        else:  # None, floats, dates, Undefined, and objects printed without their contents
            total += 8
    return total


_BUDGET: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


def current() -> Budget:
    """The running render's budget (see `start`)."""
    budget = _BUDGET.get()
    if budget is None:
        raise RuntimeError("render templates with broadcasts.templates.render")
    return budget


def start(limits: TemplateLimits) -> Token[Budget | None]:
    """Open a budget for one render; pass the returned token to `stop`."""
    return _BUDGET.set(Budget(limits))


def stop(token: Token[Budget | None]) -> None:
    _BUDGET.reset(token)
