"""The environment templates compile and render in: Jinja2's sandbox, on a budget.

Every step a template takes spends from the render's budget (broadcasts.templates.limits):
calls (only those broadcasts.templates.calls lists), filters and arithmetic count as
operations and have their results measured; loops count their iterations. Jinja has no
hook for a loop step, a literal or a piece of text, so `compile` rewrites the parsed
template first: each `for` iterates through a counting filter; each list, tuple and dict
literal, `~` concatenation and `{% set %}` block passes its value through a measuring
filter; and inside macros and blocks, each piece written passes through a filter that
counts it. The filters' names cannot be written in a template. Attribute lookups are not
counted: they are cheap, and between two counted steps there are no more of them than
the template's text holds.

Mutating methods (`list.append`, `dict.update`) are not among the calls allowed, so
values a template did not build itself stay as they are.

Numbers print plainly (broadcasts.templates.printing): each value a template writes, and
each piece a `~` joins, goes through `printing.printed`, so no float shows its binary
noise; arithmetic mixing a Decimal and a float is done in Decimals.

The budget is cooperative: a limit is checked at each step, in the rendering thread,
for microseconds per message. A template that renders only through `render` cannot run
without one (a step with no budget raises RuntimeError).
"""

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import jinja2
from jinja2 import nodes, pass_context
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

from broadcasts.templates import printing
from broadcasts.templates.calls import (
    GLOBALS,
    NESTING,
    check_binop,
    check_call,
    filters,
    tests,
)
from broadcasts.templates.limits import (
    LimitExceeded,
    TemplateLimits,
    current,
    start,
    stop,
    too_long,
)

_OUTPUT_BATCH = 64
_LOOP = "segbot:loop"
_MEASURE = "segbot:measure"
_WRITE = "segbot:write"
_PRINTED = "segbot:printed"


@pass_context  # a context filter is never run at compile time on constant arguments
def _loop(context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
    return current().counted(iterable)


@pass_context
def _measure(context: Context, value: Any) -> Any:
    budget = current()
    budget.spend()
    return budget.measure(value)


@pass_context
def _write(context: Context, piece: Any) -> Any:
    current().write(piece)
    return piece


class BoundedEnvironment(SandboxedEnvironment):
    """Autoescaping, strict about undefined names, and every step on the budget."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "**", "%"})

    def __init__(self) -> None:
        super().__init__(
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            finalize=printing.printed,
        )
        self.globals = dict(GLOBALS)
        self.tests = tests(self.tests)
        self.filters = {
            **filters(self.filters),
            _LOOP: _loop,
            _MEASURE: _measure,
            _WRITE: _write,
            _PRINTED: printing.printed,
        }

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = current()
        budget.spend()
        left, right = printing.exact_operands(left, right)
        check_binop(operator, left, right, budget.limits)
        return budget.measure(super().call_binop(context, operator, left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.spend()
        check_call(obj, args, budget.limits)
        if not isinstance(obj, NESTING):
            return budget.measure(super().call(context, obj, *args, **kwargs))
        if isinstance(obj, LoopContext) and args:  # a recursive loop's next level
            args = (budget.counted(args[0]), *args[1:])
        budget.enter()
        try:
            result = super().call(context, obj, *args, **kwargs)
        finally:
            budget.leave()
        return budget.measure(result)


class _Instrument(NodeTransformer):
    """Routes loops, literals, concatenations and set blocks through the budget, and,
    inside macros and blocks (whose text is gathered and joined at their end), each
    piece they write; prints each piece a concatenation joins as `{{ }}` would."""

    def visit(self, node: nodes.Node, gathered: bool = False) -> nodes.Node:
        node = self.generic_visit(node, gathered or _gathers(node))
        if isinstance(node, nodes.For):
            node.iter = _through(_LOOP, node.iter)
        elif isinstance(node, nodes.AssignBlock):
            node.filter = _through(_MEASURE, node.filter)  # None: the block's own text
        elif isinstance(node, nodes.Output) and gathered:
            node.nodes = [_through(_WRITE, piece) for piece in node.nodes]
        elif isinstance(node, nodes.Concat):
            node.nodes = [_through(_PRINTED, piece) for piece in node.nodes]
            return _through(_MEASURE, node)
        elif isinstance(node, nodes.List | nodes.Dict) or (
            isinstance(node, nodes.Tuple) and node.ctx == "load"  # not `for a, b in`
        ):
            return _through(_MEASURE, node)
        return node


def _gathers(node: nodes.Node) -> bool:
    """Whether `node`'s body is gathered into one text: a macro, a call, set or filter
    block, a block (`self.name()` returns it), a recursive loop (`loop(...)` does)."""
    return isinstance(
        node, nodes.Macro | nodes.CallBlock | nodes.AssignBlock | nodes.FilterBlock | nodes.Block
    ) or (isinstance(node, nodes.For) and node.recursive)


def _through(name: str, node: nodes.Node | None) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None)


ENVIRONMENT = BoundedEnvironment()


def parse(source: str) -> nodes.Template:
    return ENVIRONMENT.parse(source)


def compile_tree(tree: nodes.Template) -> jinja2.Template:
    """The parsed template, instrumented and compiled."""
    _Instrument().visit(tree)
    code = ENVIRONMENT.compile(tree)
    # Its globals as a plain dict, not Jinja's ChainMap over the environment's (which
    # never change): every render copies them into its context, and copying a ChainMap
    # costs as much as the rest of rendering a short message.
    globals_ = dict(ENVIRONMENT.make_globals(None))
    return ENVIRONMENT.template_class.from_code(ENVIRONMENT, code, globals_)


def render(template: jinja2.Template, variables: dict[str, Any], limits: TemplateLimits) -> str:
    """The template's text on a fresh budget; LimitExceeded past any limit. The output is
    measured every `_OUTPUT_BATCH` pieces (each a value or a stretch of the template)."""
    token = start(limits)
    try:
        pieces = template.root_render_func(template.new_context(variables))
        text = []
        length = 0
        while batch := list(islice(pieces, _OUTPUT_BATCH)):
            text.append("".join(batch))
            length += len(text[-1])
            if length > limits.length:
                raise LimitExceeded(too_long("the message would have", limits))
        current().check_time()
        return "".join(text)
    finally:
        stop(token)
