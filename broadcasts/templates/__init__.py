"""Message templates: Jinja2 in a sandbox, HTML-escaped, strict about undefined names,
and bounded: every render has limits (broadcasts.templates.limits) on loops, operations,
the size of values, of what macros write and of the output, macro depth and CPU time,
and may call only what broadcasts.templates.calls lists. Going past a limit raises
TemplateLimitError naming it; for one subscriber at send time, that fails only them.

A template is checked when it is saved, by broadcasts.templates.check.check_template (in
a child process with a hard time limit): it must parse, name only the variables below,
and rendered with a sample subscriber (URLs rewritten to tracked links as the sender
will) be Telegram HTML of an allowed length, within the limits. Each problem is its own
error.

Variables: first_name, last_name, username, language, country, region, city, timezone,
attr (the subscriber's attributes, `attr.income`), tags, customer (`customer.orders`,
`customer.total_spent`, `customer.last_purchase`), rfm (segment name), stage (ladder
stage name), segment (the campaign target's label), campaign.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import jinja2
from jinja2 import meta

from broadcasts.telegram_html import plain_text
from broadcasts.templates import sandbox
from broadcasts.templates.limits import LIMITS, LimitExceeded, TemplateLimits
from core.errors import SegbotError

VARIABLES = frozenset(
    {
        "first_name",
        "last_name",
        "username",
        "language",
        "country",
        "region",
        "city",
        "timezone",
        "attr",
        "tags",
        "customer",
        "rfm",
        "stage",
        "segment",
        "campaign",
    }
)
# A tracked link as long as real ones get: long ids and an 80-bit signature.
SAMPLE_TRACKED_URL = "https://bot.example.com/r/" + "x" * 40


class TemplateError(SegbotError):
    """A template that cannot be used; the message says why."""


class TemplateSyntaxError(TemplateError):
    """The template is not valid Jinja2."""


class UnknownVariableError(TemplateError):
    """The template names a variable segbot does not provide."""


class RenderError(TemplateError):
    """Rendering failed for one subscriber (e.g. an attribute they do not have)."""


class TemplateLimitError(RenderError):
    """The template went past one of its limits; the message names it."""


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    orders: int = 0
    total_spent: float = 0.0
    last_purchase: date | None = None


@dataclass(frozen=True, slots=True)
class TemplateContext:
    """What a template sees of one subscriber."""

    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    language: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    timezone: str | None = None
    attr: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    customer: CustomerFacts = field(default_factory=CustomerFacts)
    rfm: str | None = None
    stage: str = "unaware"
    segment: str = ""
    campaign: str = ""

    def variables(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in VARIABLES}


class _AnyAttributes(dict[str, Any]):
    """The sample subscriber has every attribute: which ones exist is not known at save."""

    def __missing__(self, key: str) -> str:
        return "sample"


SAMPLE = TemplateContext(
    first_name="Alexandrina",
    last_name="Montgomery-Smith",
    username="alexandrina_ms",
    language="en",
    country="ES",
    region="Comunidad de Madrid",
    city="Madrid",
    timezone="Europe/Madrid",
    attr=_AnyAttributes(),
    tags=("sample",),
    customer=CustomerFacts(orders=12, total_spent=1234.56, last_purchase=date(2026, 1, 31)),
    rfm="champions",
    stage="product_aware",
    segment="sample_segment",
    campaign="sample_campaign",
)


def compile_template(source: str) -> jinja2.Template:
    """The template, parsed; TemplateSyntaxError or UnknownVariableError if unusable."""
    try:
        tree = sandbox.parse(source)
        unknown = meta.find_undeclared_variables(tree) - VARIABLES
        if unknown:
            names = ", ".join(sorted(unknown))
            known = ", ".join(sorted(VARIABLES))
            raise UnknownVariableError(f"unknown variable(s) {names}; templates can use {known}")
        return sandbox.compile_tree(tree)
    except jinja2.TemplateSyntaxError as error:
        where = f"line {error.lineno}"
        raise TemplateSyntaxError(f"template syntax error at {where}: {error.message}") from None
    except (RecursionError, SyntaxError):  # Jinja's parser or Python's compiler gave up
        raise TemplateSyntaxError(
            "the template nests too deeply (brackets, loops, ifs or filters inside one "
            "another; Python allows 20 loops): keep it shallower"
        ) from None
    except ValueError as error:  # a number literal Python will not read
        raise TemplateSyntaxError(f"template syntax error: {error}") from None


def render(
    template: jinja2.Template, context: TemplateContext, *, limits: TemplateLimits = LIMITS
) -> str:
    """The text for one subscriber; RenderError if the template cannot be filled in,
    TemplateLimitError if it goes past a limit."""
    try:
        return sandbox.render(template, context.variables(), limits)
    except LimitExceeded as error:
        raise TemplateLimitError(f"template limit: {error}") from None
    except RecursionError:  # a value nested too deeply to print
        raise TemplateLimitError("template limit: a value nested too deeply to print") from None
    except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError) as error:
        raise RenderError(f"cannot render the template: {error}") from None


def sample_text(source: str, *, caption: bool) -> str:
    """The template rendered for the sample subscriber, checked as Telegram HTML (its
    length is checked once links are tracked). broadcasts.templates.check runs this in
    a child process when a template is saved."""
    if len(source) > LIMITS.length:
        raise TemplateLimitError(
            f"template limit: the template is {len(source)} characters; "
            f"a template may have at most {LIMITS.length}"
        )
    text = render(compile_template(source), SAMPLE)
    if not text.strip() and not caption:
        raise TemplateError("the message is empty for the sample subscriber")
    plain_text(text)
    return text
