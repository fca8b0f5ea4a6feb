"""What a template sees of one subscriber, and the sample subscriber templates are checked
and previewed with.

Customer money arrives as an exact Decimal, never a float: a float sum of 500.47 and
366.44 prints as 866.9100000000001. The sample is awkward on purpose, so a preview shows
what would go wrong for real people: a long name full of HTML's special characters, no
last name or username, Spanish as the language (decimal commas), an amount that is not
exact as a float, and every attribute present (which attributes a subscriber has is not
known when a template is saved).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

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


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """Purchase facts of the customers linked to the subscriber. `currency` is the one
    `money` formats in (broadcasts.compose says how it is chosen); None when unknown."""

    orders: int = 0
    total_spent: Decimal = Decimal("0.00")
    last_purchase: date | None = None
    currency: str | None = None


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


SAMPLE_NUMBER = Decimal("1416.38")  # 1416.3799999999999 once summed as floats
SAMPLE_DAY = date(2026, 1, 31)


class SampleAttribute(str):
    """An attribute of the sample subscriber: the text "sample", and to the number, money,
    percent and date filters (broadcasts.templates.formats) SAMPLE_NUMBER and
    SAMPLE_DAY, so `{{ attr.balance | money }}` passes the check when saved."""

    __slots__ = ()


class _AnyAttributes(dict[str, Any]):
    """The sample subscriber has every attribute: which ones exist is not known at save."""

    def __missing__(self, key: str) -> SampleAttribute:
        return SampleAttribute("sample")


class _LinkAttributes(dict[str, Any]):
    """Every attribute a link, for a template whose link comes from one
    (`<a href="{{ attr.cart_url }}">`: broadcasts.templates.sample_text)."""

    def __missing__(self, key: str) -> SampleAttribute:
        return SampleAttribute("https://shop.example/sample")


LINK_ATTRIBUTES = _LinkAttributes()


SAMPLE = TemplateContext(
    first_name='María-José "Pepa" O\'Brien de la Fuente <VIP> & Family',
    last_name=None,
    username=None,
    language="es",
    country="ES",
    region="Comunidad de Madrid",
    city="Madrid",
    timezone="Europe/Madrid",
    attr=_AnyAttributes(),
    tags=("sample",),
    customer=CustomerFacts(
        orders=7, total_spent=SAMPLE_NUMBER, last_purchase=SAMPLE_DAY, currency="EUR"
    ),
    rfm="champions",
    stage="product_aware",
    segment="sample_segment",
    campaign="sample_campaign",
)

# Someone unlike SAMPLE wherever a template may branch on it, to check the HTML of the
# branches SAMPLE does not take (broadcasts.templates.sample_text).
OTHER_SAMPLE = replace(
    SAMPLE,
    last_name="O'Neil <Jr> & Sons",
    username="maria_jose",
    language="en",
    tags=(),
    customer=CustomerFacts(),
    rfm=None,
    stage="unaware",
)
OTHER_SAMPLE_IS = "with a last name and a username, in English, with no orders"
