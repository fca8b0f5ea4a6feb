"""Templates: sandboxed, escaped, and refused at save time with a specific reason."""

import pytest

from broadcasts.telegram_html import (
    MessageTooLongError,
    TelegramHtmlError,
    check_length,
    plain_text,
)
from broadcasts.templates import (
    SAMPLE,
    VARIABLES,
    CustomerFacts,
    RenderError,
    TemplateContext,
    TemplateSyntaxError,
    UnknownVariableError,
    compile_template,
    render,
    variables_read,
)
from broadcasts.templates.check import check_template


def test_a_template_renders_subscriber_facts_escaped() -> None:
    template = compile_template(
        "Hi <b>{{ first_name }}</b>, {{ customer.orders }} orders, {{ attr.income }}"
    )
    context = TemplateContext(
        first_name="<Ann & Co>", attr={"income": "high"}, customer=CustomerFacts(orders=3)
    )
    assert render(template, context) == "Hi <b>&lt;Ann &amp; Co&gt;</b>, 3 orders, high"


async def test_syntax_errors_say_where() -> None:
    with pytest.raises(TemplateSyntaxError, match="line 2"):
        await check_template("Hello\n{{ first_name ", caption=False)


async def test_unknown_variables_are_named() -> None:
    with pytest.raises(UnknownVariableError, match="fist_name"):
        await check_template("Hello {{ fist_name }}", caption=False)


@pytest.mark.parametrize(
    ("source", "read"),
    [
        ("Hi {{ first_name }}, {% set n = 2 %}{{ n }}", {"first_name"}),
        ("{% for tag in tags %}{{ tag }}{% endfor %}{{ attr.tier }}", {"tags", "attr"}),
        ("{{ 3 | number }} {{ stage }}", {"language", "stage"}),  # the locale's
        ("{{ 9.5 | money }}", {"language", "customer"}),  # and the customer's currency
        ("{% filter money %}9.5{% endfilter %}", {"language", "customer"}),
        ("{{ [9.5] | map('money') | join }}", {"language", "customer"}),
        ("{{ [9.5] | map(attribute='real') | join }}", set()),
        ("{{ [9.5] | map(attr.formatter) | join }}", VARIABLES),  # any filter: any variable
    ],
)
def test_what_a_template_may_read_includes_what_its_filters_read(
    source: str, read: set[str]
) -> None:
    assert variables_read(source) == read


def test_the_sandbox_refuses_python_internals() -> None:
    with pytest.raises(RenderError, match="unsafe"):
        render(compile_template("{{ first_name.__class__.__mro__ }}"), SAMPLE)


async def test_a_missing_attribute_fails_that_subscriber_only() -> None:
    await check_template("{{ attr.income }}", caption=False)
    with pytest.raises(RenderError, match="income"):
        render(compile_template("{{ attr.income }}"), TemplateContext())
    defaulted = compile_template("{{ attr.income | default('unknown') }}")
    assert render(defaulted, TemplateContext()) == "unknown"


async def test_a_filter_given_a_value_it_cannot_take_is_refused_at_save() -> None:
    """dictsort of a name fails as Python does for the wrong type of value (an
    AttributeError): a RenderError like any other, not a crash of the check."""
    with pytest.raises(RenderError, match=r"^cannot render the template: 'str' object"):
        await check_template("Hi {{ first_name | dictsort }}", caption=False)


async def test_a_filter_argument_jinja_refuses_is_refused_at_save() -> None:
    """jinja's own filters refuse some arguments with an assertion (truncate shorter than
    its "..."): a RenderError like any other, not a crash of the check."""
    with pytest.raises(RenderError, match="filter's argument"):
        await check_template("{{ first_name | truncate(2) }}", caption=False)


@pytest.mark.parametrize(
    ("markup", "reason"),
    [
        ("<div>hi</div>", "does not support"),
        ("<b>hi", "never closed"),
        ("<b><i>hi</b></i>", "does not close"),
        ("<i>hi</i foo>", "a closing tag has nothing after its name"),
        ("hi \ud83d", "character 4 is a lone surrogate"),
        ("1 < 2", "bare <"),
        ("Fish & chips", "bare &"),
        ('<a title="x" href="https://x.example">x</a>', "cannot have title"),
        ("<a>x</a>", "needs an href"),
        ('<span class="big">x</span>', "spoiler"),
        ("line<br/>break", "does not support"),
        ('<a href="javascript:alert(1)">x</a>', "http://, https:// or tg://"),
        ('<a href="JavaScript:alert(1)">x</a>', "http://, https:// or tg://"),
        ('<a href="&#106;avascript:alert(1)">x</a>', "http://, https:// or tg://"),
        ('<a href="data:text/html,x">x</a>', "http://, https:// or tg://"),
        ('<a href="//evil.example">x</a>', "http://, https:// or tg://"),
    ],
)
def test_html_telegram_refuses_is_refused(markup: str, reason: str) -> None:
    with pytest.raises(TelegramHtmlError, match=reason):
        plain_text(markup)


def test_html_telegram_accepts_is_accepted() -> None:
    markup = (
        '<b>bold</b> <a href="https://x.example/?a=1&amp;b=2">link</a> '
        '<span class="tg-spoiler">s</span> <blockquote expandable>q</blockquote> '
        '<pre><code class="language-python">x = 1</code></pre> &lt;3 &#128512;'
    )
    assert plain_text(markup) == "bold link s q x = 1 <3 😀"
    assert plain_text("<i>hi</i >") == "hi"
    links = '<a href="HTTP://x.example">a</a> <a href="tg://user?id=1">b</a>'
    assert plain_text(links) == "a b"


@pytest.mark.parametrize("markup", ["<a" + " " * 20_000, "<b" + " a" * 10_000, "<" * 20_000])
def test_a_long_unclosed_tag_is_refused_without_backtracking(markup: str) -> None:
    """The tag pattern once backtracked cubically: 2,000 spaces after `<a` took a minute."""
    with pytest.raises(TelegramHtmlError, match="bare <"):
        plain_text(markup)


async def test_a_bad_template_html_is_refused_at_save() -> None:
    with pytest.raises(TelegramHtmlError):
        await check_template("<b>{{ first_name }}", caption=False)


@pytest.mark.parametrize(
    "template",
    [
        "Hi{% if last_name %} <b>{{ last_name }}</b{% endif %}",
        "{% if language == 'en' %}<b>Hi{% else %}Hola{% endif %}",
        "{% if not customer.orders %}<i>First order?{% endif %} Hola",
    ],
)
async def test_markup_broken_only_where_the_sample_does_not_go_is_refused_at_save(
    template: str,
) -> None:
    """The sample has no last name, speaks Spanish and has bought: the other sample has a
    last name, speaks English and has not."""
    with pytest.raises(TelegramHtmlError, match=r"^for a subscriber with a last name and a"):
        await check_template(template, caption=False)


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{% if last_name %}{{ customer.total_spent | money('XYZ') }}{% endif %}", "'XYZ'"),
        ("{% if false %}{{ 0.5 | percent(99) }}{% endif %}", "from 0 to 10; got 99"),
    ],
)
async def test_a_written_filter_argument_is_checked_in_every_branch(
    template: str, reason: str
) -> None:
    with pytest.raises(RenderError, match=reason):
        await check_template(template, caption=False)


async def test_a_link_an_attribute_holds_is_saved_and_one_written_wrong_is_not() -> None:
    """An abandoned cart's link, kept per subscriber: the sample's attributes are words,
    so the check tries them as links; a target the template itself writes is refused."""
    await check_template('Your cart: <a href="{{ attr.cart_url }}">open it</a>', caption=False)
    with pytest.raises(TelegramHtmlError, match="a link must start with http"):
        await check_template('<a href="cart/{{ attr.cart_id }}">open it</a>', caption=False)


async def test_what_fails_only_for_some_subscribers_data_is_saved() -> None:
    """Someone with no purchase has no date to format: their message is a template error
    at send time, everyone else's goes."""
    await check_template("Last order: {{ customer.last_purchase | date }}", caption=False)


def test_length_counts_utf16_without_markup() -> None:
    check_length("<b>" + "a" * 4096 + "</b>", caption=False)
    with pytest.raises(MessageTooLongError, match="4097"):
        check_length("😀" * 2048 + "a", caption=False)
    with pytest.raises(MessageTooLongError, match="caption"):
        check_length("a" * 1025, caption=True)


async def test_length_is_checked_after_rendering_and_link_rewriting() -> None:
    url = "https://s.example/x"
    fits_raw = f"{url} " * 200  # 4000 characters as written, longer once links are tracked
    with pytest.raises(MessageTooLongError):
        await check_template(fits_raw, caption=False)
    with pytest.raises(MessageTooLongError):
        await check_template("{{ first_name * 80 }}", caption=False)
