"""Numbers reach subscribers as they read them: money with its currency, numbers, dates
and percentages in their locale, and never a float's binary noise."""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from babel import Locale
from babel.numbers import format_currency
from markupsafe import escape

from broadcasts.templates import (
    SAMPLE,
    CustomerFacts,
    RenderError,
    TemplateContext,
    TemplateLimitError,
    compile_template,
    render,
)
from broadcasts.templates.check import check_template

BUYER = CustomerFacts(
    orders=12000, total_spent=Decimal("1416.38"), last_purchase=date(2026, 1, 31), currency="EUR"
)
NUMBERS = (
    "{{ customer.total_spent | money }}|{{ customer.orders | number }}|"
    "{{ 0.256 | percent }}|{{ customer.last_purchase | date }}"
)


def rendered(source: str, **context: Any) -> str:
    return render(compile_template(source), TemplateContext(**context))


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "€1,416.38|12,000|26%|Jan 31, 2026"),
        ("es", "1.416,38\xa0€|12.000|26\xa0%|31 ene 2026"),
        ("de", "1.416,38\xa0€|12.000|26\xa0%|31.01.2026"),
        ("pt-br", "€\xa01.416,38|12.000|26%|31 de jan. de 2026"),
        ("zz-top", "€1,416.38|12,000|26%|Jan 31, 2026"),  # unknown to Babel: English
        (None, "€1,416.38|12,000|26%|Jan 31, 2026"),
    ],
)
def test_filters_write_numbers_in_the_subscribers_locale(
    language: str | None, expected: str
) -> None:
    assert rendered(NUMBERS, language=language, customer=BUYER) == expected


def test_money_is_in_the_customers_currency_or_the_one_named() -> None:
    source = "{{ customer.total_spent | money }} / {{ customer.total_spent | money('usd') }}"
    assert rendered(source, customer=BUYER) == "€1,416.38 / $1,416.38"
    unknown = CustomerFacts(total_spent=Decimal("1416.38"))
    assert rendered(source, customer=unknown) == "1,416.38 / $1,416.38"


@pytest.mark.parametrize("language", ["en", "es", "ru", "ja", "ar", "hi", "de-ch", "fa"])
@pytest.mark.parametrize("currency", ["EUR", "JPY", "KWD", "INR", "CHF"])
def test_money_is_what_babel_writes_for_that_locale_and_currency(
    language: str, currency: str
) -> None:
    """`money` prepares each locale's currency pattern once; the text is Babel's own."""
    amount = Decimal("-1234567.891")
    customer = CustomerFacts(total_spent=amount, currency=currency)
    expected = format_currency(amount, currency, locale=Locale.parse(language, sep="-"))
    assert rendered("{{ customer.total_spent | money }}", language=language, customer=customer) == (
        str(escape(expected))
    )


def test_number_and_percent_take_a_number_of_decimals() -> None:
    source = (
        "{{ attr.x | number }} {{ attr.x | number(1) }} {{ attr.x | number(0) }} "
        "{{ attr.x | number(4) }} {{ 0.256 | percent(1) }}"
    )
    assert rendered(source, attr={"x": 1416.3799999999999}, language="de") == (
        "1.416,38 1.416,4 1.416 1.416,3800 25,6\xa0%"
    )


def test_a_date_takes_a_style_or_a_pattern_and_iso_text() -> None:
    source = (
        "{{ customer.last_purchase | date('long') }} · "
        "{{ customer.last_purchase | date('d MMMM') }} · {{ '2026-03-04' | date }}"
    )
    assert rendered(source, customer=BUYER) == "January 31, 2026 · 31 January · Mar 4, 2026"


@pytest.mark.parametrize(
    ("source", "attr", "printed"),
    [
        ("{{ attr.spent }}", {"spent": 866.9100000000001}, "866.91"),
        ("{{ 0.1 + 0.2 }}", {}, "0.3"),
        ("{{ 'total: ' ~ attr.spent }}", {"spent": 1416.3799999999999}, "total: 1416.38"),
        ("{% macro m(x) %}{{ x }}{% endmacro %}{{ m(attr.spent) }}", {"spent": 0.7 * 3}, "2.1"),
        ("{% set s %}{{ 2 / 3 }}{% endset %}{{ s }}", {}, "0.666666666666667"),
        ("{{ attr.spent }}", {"spent": 3.0}, "3"),
        ("{{ attr.spent }}", {"spent": 1e20}, "100000000000000000000"),
        ("{{ attr.spent }}", {"spent": 1e-20}, "0"),
        ("{{ attr.spent }}", {"spent": Decimal("1416.30")}, "1416.30"),  # exact: as held
        ("{{ attr.spent / 3 }}", {"spent": Decimal("1416.38")}, "472.126666666667"),
        ("{{ attr.spent * 1000 }}", {"spent": Decimal("1E+3")}, "1000000"),
        ("{{ attr.spent }}", {"spent": -0.0}, "0"),
        ("{{ attr.all | join(', ') }}", {"all": [0.1 * 3, 2]}, "0.3, 2"),
        ("{{ attr.all | join(attribute='x') }}", {"all": [{"x": 0.1 * 3}]}, "0.3"),
        ("{{ attr.all }}", {"all": [0.1 * 3, None, "deals"]}, "0.3, , deals"),  # a list
    ],
)
def test_a_bare_number_never_prints_a_floats_noise(
    source: str, attr: dict[str, Any], printed: str
) -> None:
    assert rendered(source, attr=attr) == printed


def test_a_decimal_and_a_float_mix_exactly() -> None:
    source = (
        "{{ customer.total_spent * 0.9 }} {{ customer.total_spent - 0.38 }} "
        "{{ customer.total_spent / 4 }} {{ (customer.total_spent * 1.1) | money }}"
    )
    assert rendered(source, customer=BUYER) == "1274.742 1416.00 354.095 €1,558.02"


@pytest.mark.parametrize(
    ("source", "attr", "reason"),
    [
        ("{{ attr.x | money }}", {"x": "about 10"}, "money needs a number; got the text 'about"),
        ("{{ attr.x | number }}", {"x": [1]}, "number needs a number; got a list"),
        ("{{ attr.x | percent }}", {"x": True}, "percent needs a number; got a bool"),
        ("{{ attr.x | money }}", {"x": float("nan")}, "money needs a finite number"),
        ("{{ attr.x | date }}", {"x": "31/12/2025"}, "date needs a date \\(or ISO text"),
        ("{{ attr.x | money }}", {}, "has no attribute 'x'"),
    ],
)
def test_a_value_a_filter_cannot_format_fails_that_subscriber_with_a_reason(
    source: str, attr: dict[str, Any], reason: str
) -> None:
    with pytest.raises(RenderError, match=reason):
        rendered(source, attr=attr)


def test_a_number_kept_as_text_is_a_number() -> None:
    """CRM attributes often hold numbers as text."""
    assert rendered("{{ attr.x | money('EUR') }}", attr={"x": " -12.5 "}) == "-€12.50"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ 1 | money('EURO') }}", "unknown currency 'EURO'; name it by its ISO 4217 code"),
        ("{{ 1 | number(11) }}", "decimals must be from 0 to 10; got 11"),
        ("{{ 1 | percent('two') }}", "decimals must be a whole number"),
        ("{{ customer.last_purchase | date('HH:mm') }}", "cannot format with 'HH:mm'"),
    ],
)
async def test_a_filter_used_wrongly_is_refused_at_save(source: str, reason: str) -> None:
    with pytest.raises(RenderError, match=reason):
        await check_template(source, caption=False)


@pytest.mark.parametrize(
    ("source", "attr"),
    [
        ("{{ attr.x | money }}", {"x": Decimal("1E+100")}),
        ("{{ attr.x | number }}", {"x": 10**100}),
        ("{{ attr.x }}", {"x": 1e200}),
        ("{{ attr.x ** 1000000000 }}", {"x": Decimal("10")}),
    ],
)
def test_numbers_past_the_digit_limit_are_refused_not_formatted(
    source: str, attr: dict[str, Any]
) -> None:
    with pytest.raises(TemplateLimitError, match="at most 100 digits"):
        rendered(source, attr=attr)


async def test_the_sample_subscriber_shows_what_would_go_wrong() -> None:
    """A name full of HTML's characters, no last name (written as nothing, not "None"),
    Spanish decimal commas, and money that a float would have printed as
    1416.3799999999999."""
    source = (
        "Hi {{ first_name }} {{ last_name }}! {{ customer.total_spent | money }} "
        "({{ customer.total_spent }}) on {{ customer.last_purchase | date }}"
    )
    assert render(compile_template(source), SAMPLE) == (
        "Hi María-José &#34;Pepa&#34; O&#39;Brien de la Fuente &lt;VIP&gt; &amp; Family ! "
        "1.416,38\xa0€ (1416.38) on 31 ene 2026"
    )


def test_a_missing_value_writes_nothing_not_none() -> None:
    """No last name, no username: printed, joined with `~` or `join`, a None is empty."""
    source = (
        "[{{ last_name }}][{{ 'a' ~ username ~ 'b' }}][{{ [first_name[:3], none]|join('-') }}]"
        "[{{ last_name is none }}][{{ last_name or 'friend' }}]"
    )
    assert render(compile_template(source), SAMPLE) == "[][ab][Mar-][True][friend]"


async def test_any_attribute_of_the_sample_is_a_number_or_a_date_to_the_filters() -> None:
    """Which attributes a subscriber has, and their types, is not known at save."""
    source = "{{ attr.balance | money }} {{ attr.rate | percent }} {{ attr.birthday | date }}"
    await check_template(source, caption=False)
    assert render(compile_template(source), SAMPLE) == "1.416,38\xa0€ 141.638\xa0% 31 ene 2026"


def test_a_list_prints_as_its_items_not_as_python_writes_it() -> None:
    assert rendered("{{ tags }}", tags=("new", "vip")) == "new, vip"
    assert rendered("{{ tags }}", tags=()) == ""
    assert rendered("{{ attr.likes }}", attr={"likes": ["<b>", "news"]}) == "&lt;b&gt;, news"
