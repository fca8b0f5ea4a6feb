"""What a rule reads: the kinds of data whose change can change who it selects.

Keeping membership current as things happen (`segments.incremental`) re-evaluates a
saved segment only for a change its rule can see: a click can move someone into
`clicked within 7d`, never into `lang = es`. `dependencies(rule)` names the data a rule
reads, `in segment` expanded; a change is named the same way, so `depends_on` is a
plain overlap test.

A `Fact` is a kind of data and, where the kind has names, which one (an event type, a
tag, a subscriber column, an attribute key); `name=None` stands for every name of its
kind, in a rule (none is known) as in a change (say, "some tags changed").

What a rule reads does not say when it changes with the clock alone: `clicked within
7d` stops holding a week after the click with nothing logged. Those moves are the
periodic refresh's to find.
"""

import enum
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from segments.rules.fields import (
    CustomerAttribute,
    Level,
    PurchaseFact,
    RfmFact,
    SubscriberAttribute,
    SubscriberColumn,
    field_spec,
)
from segments.rules.tree import (
    EVENT_TYPES,
    Action,
    Condition,
    Did,
    Flag,
    HasFlag,
    InSegment,
    Predicate,
    Rule,
    Tagged,
    predicates,
)


class FactKind(enum.StrEnum):
    EVENT = "event"  # a logged event; name: its type as stored (link_click, button, ...)
    TAG = "tag"  # a tag on the subscriber; name: the tag
    PROFILE = "profile"  # a `subscribers` column; name: the column (status, language_code)
    ATTRIBUTE = "attribute"  # the subscriber's own attributes (attr.NAME); name: the key
    CUSTOMER = "customer"  # linked CRM customers' attributes (crm.NAME); name: the key
    PURCHASES = "purchases"  # linked customers' order facts (orders, spent, buyer...)
    RFM = "rfm"  # linked customers' RFM scores and segment
    STAGE = "stage"  # the ladder-of-awareness stage
    ACTIVITY = "activity"  # the activity level


@dataclass(frozen=True, slots=True)
class Fact:
    """One kind of data about a subscriber; `name` None: every name of the kind."""

    kind: FactKind
    name: str | None = None

    def overlaps(self, other: "Fact") -> bool:
        return self.kind is other.kind and (
            self.name is None or other.name is None or self.name == other.name
        )


CLICKS = Fact(FactKind.EVENT, EVENT_TYPES[Action.CLICKED])
# The data a linked CRM customer brings: changing a link changes all of it.
CUSTOMER_DATA = frozenset({Fact(FactKind.CUSTOMER), Fact(FactKind.PURCHASES), Fact(FactKind.RFM)})
EVERYTHING = frozenset(Fact(kind) for kind in FactKind)


def dependencies(rule: Rule, *, segments: Mapping[str, Rule] | None = None) -> frozenset[Fact]:
    """What `rule` reads, with the rules of the segments it names (from `segments`; a
    name missing there reads nothing here: the compiler is the one to refuse it)."""
    found: set[Fact] = set()
    pending, seen = [rule], set[str]()
    while pending:
        for predicate in predicates(pending.pop()):
            if isinstance(predicate, InSegment):
                if predicate.name not in seen and predicate.name in (segments or {}):
                    seen.add(predicate.name)
                    pending.append((segments or {})[predicate.name])
            else:
                found |= _reads(predicate)
    return frozenset(found)


def depends_on(read: Collection[Fact], changed: Iterable[Fact]) -> bool:
    """Whether any of the `changed` data is data a rule that reads `read` reads."""
    return any(fact.overlaps(wanted) for fact in changed for wanted in read)


def _reads(predicate: Predicate) -> frozenset[Fact]:
    if isinstance(predicate, Did):
        return frozenset({Fact(FactKind.EVENT, EVENT_TYPES[predicate.action])})
    if isinstance(predicate, Tagged):
        tags = {Fact(FactKind.TAG, name) for name in predicate.names}
        return frozenset(tags | {CLICKS} if predicate.via_clicks else tags)
    if isinstance(predicate, HasFlag):
        if predicate.flag is Flag.BUYER:
            return frozenset({Fact(FactKind.PURCHASES)})
        if predicate.flag is Flag.CLICKER:
            return frozenset({CLICKS})
        return frozenset({CLICKS, Fact(FactKind.EVENT, EVENT_TYPES[Action.READ])})
    if isinstance(predicate, Condition):
        return frozenset({_field(predicate)})
    return frozenset()  # `in segment`: expanded by `dependencies`


def _field(condition: Condition) -> Fact:
    # Any RFM name passes here: the rule was type-checked when it was made.
    names = condition.value if isinstance(condition.value, tuple) else (condition.value,)
    source = field_spec(condition.field, rfm_segments=[str(name) for name in names]).source
    if isinstance(source, SubscriberColumn):
        return Fact(FactKind.PROFILE, source.column)
    if isinstance(source, SubscriberAttribute):
        return Fact(FactKind.ATTRIBUTE, source.key)
    if isinstance(source, CustomerAttribute):
        return Fact(FactKind.CUSTOMER, source.key)
    if isinstance(source, PurchaseFact):
        return Fact(FactKind.PURCHASES)
    if isinstance(source, RfmFact):
        return Fact(FactKind.RFM)
    return Fact(FactKind.STAGE if source is Level.STAGE else FactKind.ACTIVITY)
