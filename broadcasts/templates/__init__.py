"""Message templates: Jinja2 in a sandbox, HTML-escaped, strict about undefined names,
and bounded: every render has limits (broadcasts.templates.limits) on loops, operations,
the size of values, of what macros write and of the output, macro depth and CPU time,
and may call only what broadcasts.templates.calls lists. Going past a limit raises
TemplateLimitError naming it; for one subscriber at send time, that fails only them.

A template is checked when it is saved, by broadcasts.templates.check.check_template (in
a child process with a hard time limit): it must parse, name only the variables below,
and rendered with a sample subscriber (URLs rewritten to tracked links as the sender
will) be Telegram HTML of an allowed length, within the limits; rendered for a second
sample unlike the first (OTHER_SAMPLE), Telegram HTML too, if it renders at all (what
fails only for some subscribers' data is theirs to fail at send time); and a number or
date filter's written arguments are tried in every branch (`money('XYZ')`). Each
problem is its own error.

Variables: first_name, last_name, username, language, country, region, city, timezone,
attr (the subscriber's attributes, `attr.income`), tags, customer (`customer.orders`,
`customer.total_spent`, `customer.last_purchase`, `customer.currency`), rfm (segment
name), stage (ladder stage name), segment (the campaign target's label), campaign. Money
is an exact Decimal. The sample subscriber (broadcasts.templates.context.SAMPLE) is
awkward on purpose, so a preview shows what would go wrong.

Filters for numbers, in the subscriber's locale (their Telegram language; English when
unknown), from broadcasts.templates.formats:

    {{ customer.total_spent | money }}     1.416,38 € (es), €1,416.38 (en)
    {{ attr.credit | money('USD') }}       in that currency (an ISO 4217 code)
    {{ x | number }}  {{ x | number(2) }}  1.416,38; up to 3 decimals, or exactly 2
    {{ r | percent }} {{ r | percent(1) }} a ratio: 0.256 is 26 %, or 25,6 %
    {{ d | date }}  {{ d | date('long') }} 31 ene 2026; short, medium, long, full, or a
                                           pattern such as 'd MMMM'

`money`'s currency: its argument, else the customer's latest purchase's, else the
shop's latest order's (orders the CRM sent without one got crm.default_currency when
imported), else none: the amount with two decimals and no symbol. Without a filter
(`{{ x }}`, `~`, `join`), a number prints in plain digits, floats rounded to 15
significant digits, so none shows its binary noise (1416.3799999999999); a Decimal and
a float mix in arithmetic (broadcasts.templates.printing).
"""

from dataclasses import replace

import jinja2
from jinja2 import meta, nodes

from broadcasts.telegram_html import LinkTargetError, TelegramHtmlError, plain_text
from broadcasts.templates import formats, sandbox
from broadcasts.templates.context import (
    LINK_ATTRIBUTES,
    OTHER_SAMPLE,
    OTHER_SAMPLE_IS,
    SAMPLE,
    SAMPLE_DAY,
    SAMPLE_NUMBER,
    VARIABLES,
    CustomerFacts,
    TemplateContext,
)
from broadcasts.templates.limits import LIMITS, LimitExceeded, TemplateLimits
from core.errors import SegbotError

__all__ = [
    "SAMPLE",
    "SAMPLE_TRACKED_URL",
    "VARIABLES",
    "CustomerFacts",
    "RenderError",
    "TemplateContext",
    "TemplateError",
    "TemplateLimitError",
    "TemplateSyntaxError",
    "UnknownVariableError",
    "compile_template",
    "render",
    "sample_text",
    "variables_read",
]

# What each number and date filter is applied to when its written arguments are checked.
_FILTER_SAMPLES = {
    **dict.fromkeys(("money", "number", "percent"), str(SAMPLE_NUMBER)),
    "date": repr(SAMPLE_DAY.isoformat()),
}
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


def variables_read(source: str) -> frozenset[str]:
    """The variables rendering `source`, a template compile_template takes, may read:
    those it names and those its filters read themselves (formats.READS: the locale, and
    for `money` the customer's currency). A filter `map` applies by a name the template
    works out could be any filter: then every variable."""
    tree = sandbox.parse(source)
    read = set(meta.find_undeclared_variables(tree))
    for node in tree.find_all(nodes.Filter):
        applied = [node.name]
        if node.name == "map" and (node.args or node.dyn_args):  # map('money') applies one
            named = node.args[0] if node.args else None
            if not isinstance(named, nodes.Const):
                return VARIABLES
            applied.append(named.value)
        for name in applied:
            read |= formats.READS.get(name, frozenset())
    return frozenset(read)


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
    except (
        jinja2.TemplateError,
        AttributeError,  # a filter given a value of the wrong type: dictsort of a name
        TypeError,
        ValueError,
        ArithmeticError,
        LookupError,
        RuntimeError,  # how jinja's cycler() refuses no items: cycler(*tags) for no tags
    ) as error:
        raise RenderError(f"cannot render the template: {error}") from None
    except AssertionError as error:  # how jinja's own filters refuse arguments: truncate(2)
        raise RenderError(f"cannot render the template: a filter's argument: {error}") from None


def sample_text(source: str, *, caption: bool) -> str:
    """The template rendered for the sample subscriber, checked as Telegram HTML (its
    length is checked once links are tracked). broadcasts.templates.check runs this in
    a child process when a template is saved."""
    if len(source) > LIMITS.length:
        raise TemplateLimitError(
            f"template limit: the template is {len(source)} characters; "
            f"a template may have at most {LIMITS.length}"
        )
    template = compile_template(source)
    _check_constant_arguments(source)
    text = render(template, SAMPLE)
    if not text.strip() and not caption:
        raise TemplateError("the message is empty for the sample subscriber")
    text = _as_telegram_html(template, SAMPLE, text)
    try:
        other = render(template, OTHER_SAMPLE)
    except RenderError:  # what fails for some subscribers' data, not for the template's
        return text
    try:
        _as_telegram_html(template, OTHER_SAMPLE, other)
    except TelegramHtmlError as error:
        raise TelegramHtmlError(f"for a subscriber {OTHER_SAMPLE_IS}: {error}") from None
    return text


def _as_telegram_html(template: jinja2.Template, context: TemplateContext, text: str) -> str:
    """`text`, `template` rendered for `context`, if it is Telegram HTML; TelegramHtmlError
    if not. A link target that is no link may be an attribute's, which the sample's are
    not (`<a href="{{ attr.cart_url }}">`): rendered with every attribute a link, that
    text is the one checked and returned."""
    try:
        plain_text(text)
    except LinkTargetError:
        text = render(template, replace(context, attr=LINK_ATTRIBUTES))
        plain_text(text)
    return text


def _check_constant_arguments(source: str) -> None:
    """RenderError for a filter whose arguments are written in the template and wrong
    (`money('XYZ')`, `number(99)`), in a branch the samples take or not: each such filter
    is applied to a sample value with those arguments."""
    for node in sandbox.parse(source).find_all(nodes.Filter):
        value = _FILTER_SAMPLES.get(node.name)
        written = [argument for argument in node.args if isinstance(argument, nodes.Const)]
        if value is None or not written or len(written) < len(node.args) or node.kwargs:
            continue
        arguments = ", ".join(repr(argument.value) for argument in written)
        render(compile_template(f"{{{{ {value} | {node.name}({arguments}) }}}}"), SAMPLE)
