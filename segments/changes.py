"""What changed for whom: the input of the incremental membership update.

`Changes` maps a subscriber id to the data that changed for them (`Fact`s, the
vocabulary of `segments.rules.dependencies`). The event log's committed batches become
changes through `changes_of_events`; the CRM sync and the rescoring jobs name theirs with
`changed`.

A logged event changes more than "an event of its type happened": every event is a
sign of life (`seen`), some are logged by the code that changed the subscriber in the
same commit (an unsubscribe its status, a quiz answer attributes, tags and profile
columns, a shared phone the CRM links made by it), and a command's handler changes what
the command says (`/stop` the status, `/forget` everything). A button press is only a
press here: what its handler changes (a quiz answer) is its own event.
"""

from collections.abc import Collection, Iterable, Mapping
from typing import Protocol

from core.models import EventType
from segments.rules.dependencies import CUSTOMER_DATA, EVERYTHING, Fact, FactKind

Changes = Mapping[int, Collection[Fact]]

SEEN = Fact(FactKind.PROFILE, "last_seen_at")
_ANY_PROFILE = Fact(FactKind.PROFILE)
_STATUS = Fact(FactKind.PROFILE, "status")
# Besides the event itself and `seen`, what each kind of event says changed.
_ALSO_CHANGED: dict[str, frozenset[Fact]] = {
    # status, subscribed_at, the first touch, language; a /start deep link may link a
    # CRM customer
    EventType.SUBSCRIBED: frozenset({_ANY_PROFILE, *CUSTOMER_DATA}),
    EventType.START: frozenset({_ANY_PROFILE, *CUSTOMER_DATA}),
    EventType.UNSUBSCRIBED: frozenset({_STATUS}),
    EventType.BLOCKED: frozenset({_STATUS}),
    EventType.UNBLOCKED: frozenset({_STATUS}),
    EventType.DEACTIVATED: frozenset({_STATUS}),
    EventType.FORGOTTEN: EVERYTHING,
    # /start, /stop, /language, /email, /forget...: its handler changes what it says
    EventType.COMMAND: EVERYTHING,
    EventType.QUIZ_ANSWER: frozenset({Fact(FactKind.ATTRIBUTE), Fact(FactKind.TAG), _ANY_PROFILE}),
    EventType.CONTACT_SHARED: frozenset({Fact(FactKind.PROFILE, "phone"), *CUSTOMER_DATA}),
    EventType.EMAIL_SHARED: frozenset({Fact(FactKind.PROFILE, "email"), *CUSTOMER_DATA}),
    EventType.STAGE_CHANGED: frozenset({Fact(FactKind.STAGE)}),
}


class EventRecord(Protocol):
    """An event as committed: whose, and its type (an `EventType` value). The event log's
    `core.events.LoggedEvent` is one, and so is an `Event` row."""

    @property
    def subscriber_id(self) -> int: ...

    @property
    def type(self) -> str: ...


def facts_of_event(event_type: str) -> frozenset[Fact]:
    """What an event of `event_type` having been logged says changed."""
    return frozenset({Fact(FactKind.EVENT, event_type), SEEN}) | _ALSO_CHANGED.get(
        event_type, frozenset()
    )


def changes_of_events(events: Iterable[EventRecord]) -> dict[int, frozenset[Fact]]:
    """Per subscriber, what the events say changed for them."""
    found: dict[int, set[Fact]] = {}
    for event in events:
        found.setdefault(event.subscriber_id, set()).update(facts_of_event(str(event.type)))
    return {subscriber: frozenset(facts) for subscriber, facts in found.items()}


def changed(subscriber_ids: Iterable[int], facts: Iterable[Fact]) -> dict[int, frozenset[Fact]]:
    """The same `facts` changed for each of `subscriber_ids`."""
    shared = frozenset(facts)
    return dict.fromkeys(subscriber_ids, shared)


def merged(*parts: Changes) -> dict[int, frozenset[Fact]]:
    """Changes put together: per subscriber, everything any part says changed."""
    found: dict[int, set[Fact]] = {}
    for part in parts:
        for subscriber, facts in part.items():
            found.setdefault(subscriber, set()).update(facts)
    return {subscriber: frozenset(facts) for subscriber, facts in found.items()}
