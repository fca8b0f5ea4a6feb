"""Message templates: Jinja2 in a sandbox, HTML-escaped, strict about undefined names.

A template is checked when its campaign is saved: it must parse, name only the variables
below, and rendered with a sample subscriber (URLs rewritten to tracked links as the
sender will) be Telegram HTML of an allowed length. Each problem is its own error.

Variables: first_name, last_name, username, language, country, region, city, timezone,
attr (the subscriber's attributes, `attr.income`), tags, customer (`customer.orders`,
`customer.total_spent`, `customer.last_purchase`), rfm (segment name), stage (ladder
stage name), segment (the campaign target's label), campaign.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from broadcasts.links import rewrite_urls
from broadcasts.telegram_html import check_length
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

_environment = SandboxedEnvironment(
    autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
)


def compile_template(source: str) -> jinja2.Template:
    """The template, parsed; TemplateSyntaxError or UnknownVariableError if unusable."""
    try:
        unknown = meta.find_undeclared_variables(_environment.parse(source)) - VARIABLES
        if unknown:
            names = ", ".join(sorted(unknown))
            known = ", ".join(sorted(VARIABLES))
            raise UnknownVariableError(f"unknown variable(s) {names}; templates can use {known}")
        return _environment.from_string(source)
    except jinja2.TemplateSyntaxError as error:
        where = f"line {error.lineno}"
        raise TemplateSyntaxError(f"template syntax error at {where}: {error.message}") from None


def render(template: jinja2.Template, context: TemplateContext) -> str:
    """The text for one subscriber; RenderError if the template cannot be filled in."""
    try:
        return template.render(context.variables())
    except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError) as error:
        raise RenderError(f"cannot render the template: {error}") from None


def validate(
    source: str,
    *,
    caption: bool,
    tracked_url: Callable[[str], str] = lambda _url: SAMPLE_TRACKED_URL,
) -> jinja2.Template:
    """Check a template at save time (see the module docstring); return it compiled."""
    template = compile_template(source)
    sample = render(template, SAMPLE)
    if not sample.strip() and not caption:
        raise TemplateError("the message is empty for the sample subscriber")
    check_length(rewrite_urls(sample, tracked_url), caption=caption)
    return template
