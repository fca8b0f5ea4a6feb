"""The segment builder's blocks: one condition (field, operator, value) joined to a rule
with `and` or `or`. The condition is built as a rule tree, type-checked and written back as
text by the rule modules (`segments.rules`), and the whole rule is parsed again, so a rule
made with blocks is exactly a rule one could type.
"""

from collections.abc import Collection

from segments.rules import (
    AllOf,
    AnyOf,
    Condition,
    Not,
    Op,
    Rule,
    RuleError,
    RuleSyntaxError,
    RuleTypeError,
    parse,
    to_text,
)
from segments.rules.fields import (
    FIXED_FIELDS,
    FieldSpec,
    Kind,
    check_condition,
    field_name,
    field_spec,
)
from segments.rules.tokens import TokenKind, tokenize
from segments.rules.tree import Scalar

# Each as the rule language writes it, with the operator and whether it is negated.
OPERATORS = {
    **{str(op): (op, False) for op in Op},
    "not in": (Op.IN, True),
    "is not set": (Op.IS_SET, True),
}
JOINS = ("and", "or")
FIELDS = (*FIXED_FIELDS.values(), field_spec("rfm"))  # the blocks' field list (and attr./crm.)
_VALUES = (TokenKind.WORD, TokenKind.STRING, TokenKind.NUMBER, TokenKind.DATE, TokenKind.DURATION)


def add_condition(
    rule_text: str,
    *,
    field: str,
    operator: str,
    value: str,
    join: str,
    rfm_segments: Collection[str],
) -> str:
    """`rule_text` (may be empty) `join`ed with the condition, as rule text; a RuleError
    saying what is wrong with the condition, or with the rule it is added to."""
    if operator not in OPERATORS:
        raise RuleTypeError(f"choose an operator: {', '.join(OPERATORS)}")
    if join not in JOINS:
        raise RuleTypeError("join a condition with `and` or `or`")
    field = field.strip()
    named = field_name(field)
    spec = field_spec(named, rfm_segments=rfm_segments)
    op, negated = OPERATORS[operator]
    operand: Scalar | tuple[Scalar, ...] | None = None
    if op is Op.IN:
        items = value.strip().removeprefix("(").removesuffix(")").split(",")
        operand = tuple(_literal(item, spec, op) for item in items)
    elif op is not Op.IS_SET:
        operand = _literal(value, spec, op)
    checked: Rule = check_condition(Condition(named, op, operand), rfm_segments=rfm_segments)
    if negated:
        checked = Not(checked)
    text = to_text(_joined(rule_text, checked, join, rfm_segments))
    try:
        parse(text, rfm_segments=rfm_segments)  # within the limits, as the text box would be
    except RuleError as error:  # the rule alone parsed (in _joined): the condition did this
        raise type(error)(f"this condition cannot be added: {error.reason}") from None
    return text


def _literal(text: str, spec: FieldSpec, op: Op) -> Scalar:
    """One value as typed: read as the rule language reads a literal (7d, 2026-01-31, 25,
    "quoted text"); text fields take any text as it is, and several words are text."""
    text = text.strip()
    if not text:
        raise RuleTypeError(f"{spec.name} {op} needs a value")
    try:
        tokens = tokenize(text)[:-1]
    except RuleSyntaxError:  # not one literal (`New York!`): the text as typed
        return text
    except RuleError as error:  # a number past what a rule holds: the value's, not the rule's
        raise type(error)(f"{spec.name} {op}: {error.reason}") from None
    literal = tokens[0].value if len(tokens) == 1 and tokens[0].kind in _VALUES else None
    if literal is None:
        return text
    if spec.kind in (Kind.TEXT, Kind.CHOICE) and tokens[0].kind is not TokenKind.STRING:
        return text  # `country = 01` means the text 01, not the number 1
    return literal


def _joined(rule_text: str, condition: Rule, join: str, rfm_segments: Collection[str]) -> Rule:
    """The rule with `condition` as its last item: `a and b` + `c` is `a and b and c`, and
    `a or b` + and `c` is `(a or b) and c`."""
    if not rule_text.strip():
        return condition
    rule = parse(rule_text, rfm_segments=rfm_segments)
    if join == "and":
        return AllOf((*(rule.items if isinstance(rule, AllOf) else (rule,)), condition))
    return AnyOf((*(rule.items if isinstance(rule, AnyOf) else (rule,)), condition))
