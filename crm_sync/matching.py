"""Linking CRM customers to subscribers: by signed deep link, phone, or email, in that order
of trust.

A phone or email shared by two customers of one source, or by two subscribers, is a
conflict: it is recorded in `identity_conflicts` for a person to resolve and links nobody.
A subscriber has at most one customer per source. Deep links are never undone by matching;
phone and email links follow the data (a changed phone unlinks, and ends the subscriber's
part in a conflict over the old one, so a value left to one subscriber links them).
"""

import enum
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    and_,
    cast,
    delete,
    exists,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from core.clock import Clock, utcnow
from core.erasure import erase_late_rows, is_erased
from core.errors import SegbotError
from core.models import Subscriber
from crm_sync.facts import refresh_subscriber_purchases
from crm_sync.models import Customer, IdentityConflict


class MatchMethod(enum.StrEnum):
    DEEP_LINK = "deep_link"
    PHONE = "phone"
    EMAIL = "email"


class UnknownCustomerError(SegbotError):
    """A deep link named a customer or subscriber segbot does not have."""


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    linked: int  # customers linked to a (new) subscriber
    unlinked: int  # customers whose phone or email link no longer holds
    conflicts: int  # conflicts standing in the matched scope


@dataclass(frozen=True, slots=True)
class _Pair:
    kind: MatchMethod
    value: str
    source: str
    customer_id: int
    subscriber_id: int


async def link_by_deep_link(
    session: AsyncSession, *, subscriber_id: int, source: str | None, external_id: str
) -> Customer:
    """Link the subscriber who opened a signed customer deep link to that customer; commits.

    The signature is checked by the caller; this trusts it. `source` None means the only
    customer with that external id in any source (a shop with one CRM need not name it).
    The link replaces any other link of the subscriber to a customer of the same source.
    """
    if await session.get(Subscriber, subscriber_id) is None:
        raise UnknownCustomerError(f"no subscriber {subscriber_id}")
    named = select(Customer).where(Customer.external_id == external_id)
    if source is not None:
        named = named.where(Customer.source == source)
    candidates = (await session.scalars(named.limit(2))).all()
    if len(candidates) != 1:
        where = f"from {source!r}" if source else "in a single source"
        raise UnknownCustomerError(f"no unique customer {external_id!r} {where}")
    customer = candidates[0]
    source, previous = customer.source, customer.subscriber_id
    await session.execute(
        update(Customer)
        .where(
            Customer.source == source,
            Customer.subscriber_id == subscriber_id,
            Customer.id != customer.id,
        )
        .values(subscriber_id=None, matched_by=None)
    )
    customer.subscriber_id = subscriber_id
    customer.matched_by = MatchMethod.DEEP_LINK.value
    await session.flush()
    await refresh_subscriber_purchases(session, subscriber_ids=[subscriber_id, previous])
    await session.commit()
    return customer


async def match_subscriber(
    session: AsyncSession, *, subscriber_id: int, clock: Clock = utcnow
) -> MatchOutcome:
    """Match one subscriber (after they shared a phone or email) to customers; commits."""
    outcome = await rematch(session, subscriber_id=subscriber_id, clock=clock)
    await session.commit()
    return outcome


async def rematch(
    session: AsyncSession,
    *,
    source: str | None = None,
    subscriber_id: int | None = None,
    clock: Clock = utcnow,
) -> MatchOutcome:
    """Bring phone and email links up to date for the customers of `source`, or for the
    customers one subscriber's phone or email point at (neither: everyone). No commit."""
    scope, conflict_scope = await _scope(session, source=source, subscriber_id=subscriber_id)
    pairs = await _candidate_pairs(session, scope, wide=subscriber_id is None)
    current = await session.execute(
        select(Customer.id, Customer.source, Customer.subscriber_id, Customer.matched_by).where(
            scope, Customer.subscriber_id.is_not(None)
        )
    )
    links = {row.id: (row.source, row.subscriber_id, row.matched_by) for row in current}
    held = await _held_outside(session, pairs, links) if subscriber_id is not None else set()
    desired, conflicts = _decide(pairs, links, held)

    changes = []
    for customer_id, (_, _, how) in links.items():
        if how != MatchMethod.DEEP_LINK and customer_id not in desired:
            changes.append({"id": customer_id, "subscriber_id": None, "matched_by": None})
    unlinked = len(changes)
    for customer_id, (subscriber, kind) in desired.items():
        if links.get(customer_id, (None, None, None))[1:] != (subscriber, kind.value):
            changes.append({"id": customer_id, "subscriber_id": subscriber, "matched_by": kind})
    if changes:
        await session.execute(update(Customer), changes)
        relinked = {change["subscriber_id"] for change in changes}
        relinked |= {links[change["id"]][1] for change in changes if change["id"] in links}
        await refresh_subscriber_purchases(session, subscriber_ids=relinked)

    await session.execute(delete(IdentityConflict).where(conflict_scope))
    now = clock()
    for (kind, value, source_name), (customers, subscribers) in sorted(conflicts.items()):
        session.add(
            IdentityConflict(
                kind=kind.value,
                value=value,
                source=source_name,
                customer_ids=sorted(customers),
                subscriber_ids=sorted(subscribers),
                detected_at=now,
            )
        )
    await session.flush()
    return MatchOutcome(linked=len(changes) - unlinked, unlinked=unlinked, conflicts=len(conflicts))


async def _scope(
    session: AsyncSession, *, source: str | None, subscriber_id: int | None
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Which customers to rematch, and which recorded conflicts that replaces."""
    if subscriber_id is None:
        if source is None:
            return Customer.id.is_not(None), IdentityConflict.id.is_not(None)
        return _most_rows(Customer.source == source), IdentityConflict.source == source
    subscriber = await session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise UnknownCustomerError(f"no subscriber {subscriber_id}")
    # Every customer linked to the subscriber, deep links included: they hold its place.
    customers: list[ColumnElement[bool]] = [Customer.subscriber_id == subscriber_id]
    conflicts: list[ColumnElement[bool]] = [false()]
    for kind, value in (
        (MatchMethod.PHONE, subscriber.phone),
        (MatchMethod.EMAIL, subscriber.email),
    ):
        if value:
            customers.append(getattr(Customer, kind.value) == value)
            conflicts.append(and_(IdentityConflict.kind == kind, IdentityConflict.value == value))
    # The conflicts the subscriber was in: a phone or email they no longer hold may name
    # one subscriber now.
    standing = await session.execute(
        select(IdentityConflict.id, IdentityConflict.kind, IdentityConflict.value).where(
            _names_subscriber(session, subscriber_id)
        )
    )
    for row in standing:
        customers.append(getattr(Customer, row.kind) == row.value)
        conflicts.append(IdentityConflict.id == row.id)
    return or_(*customers), or_(*conflicts)


class _most_rows(FunctionElement[bool]):  # noqa: N801  (named like a condition)
    """A condition most rows meet: SQLite's `likely(condition)`, so that its planner, which
    has no statistics, does not choose to read rows by an index on it (all the rows of a
    source, where a few were sought); elsewhere the condition as it is."""

    type = Boolean()
    inherit_cache = True
    _is_implicitly_boolean = True  # SQLite would otherwise get `likely(...) = 1`

    def __init__(self, condition: ColumnElement[bool]) -> None:
        super().__init__(condition)


@compiles(_most_rows)
def _condition(element: _most_rows, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_most_rows, "sqlite")
def _likely(element: _most_rows, compiler: SQLCompiler, **kw: Any) -> str:
    return f"likely({compiler.process(element.clauses, **kw)})"


def _names_subscriber(session: AsyncSession, subscriber_id: int) -> ColumnElement[bool]:
    """The conflict's `subscriber_ids` (a JSON array of ids) holds `subscriber_id`: tested
    by the database, so matching one subscriber reads their conflicts alone, not every
    conflict of every source."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(IdentityConflict.subscriber_ids, JSONB).contains([subscriber_id])
    listed = func.json_each(IdentityConflict.subscriber_ids).table_valued("value")
    return exists().where(listed.c.value == subscriber_id)


async def _candidate_pairs(
    session: AsyncSession, scope: ColumnElement[bool], *, wide: bool
) -> list[_Pair]:
    """The customers in `scope` and the subscribers with their phone, or with their email.

    A `wide` scope (a whole source, or everyone) is looked through from the values
    subscribers hold (`IN`): few subscribers share a phone or email with the bot, where a
    source may have hundreds of thousands of customers. On SQLite, whose planner has no
    statistics, this and `_most_rows` take a search of the customers' phone (email) index
    per value held, where every customer of the source was read (50 ms for 200,000, with
    no subscriber holding a phone). One subscriber's scope is a few index searches as it
    is: listing every value held would cost more than it."""
    pairs = []
    for kind in (MatchMethod.PHONE, MatchMethod.EMAIL):
        customer_value = getattr(Customer, kind.value)
        subscriber_value = getattr(Subscriber, kind.value)
        held = select(subscriber_value).where(subscriber_value.is_not(None))
        result = await session.execute(
            select(Customer.id, Customer.source, customer_value, Subscriber.id.label("sub"))
            .join(Subscriber, subscriber_value == customer_value)
            .where(scope, customer_value.in_(held) if wide else customer_value.is_not(None))
        )
        pairs += [_Pair(kind, str(row[2]), row.source, row.id, row.sub) for row in result]
    return pairs


async def _held_outside(
    session: AsyncSession, pairs: list[_Pair], links: dict[int, tuple[str, int, str]]
) -> set[tuple[int, str]]:
    """(subscriber, source) of the pairs' subscribers already linked to a customer outside
    the scope (not in `links`): one subscriber's scope leaves out the others' customers."""
    if not pairs:
        return set()
    held = await session.execute(
        select(Customer.id, Customer.subscriber_id, Customer.source).where(
            Customer.subscriber_id.in_({pair.subscriber_id for pair in pairs}),
            Customer.source.in_({pair.source for pair in pairs}),
        )
    )
    return {(row.subscriber_id, row.source) for row in held if row.id not in links}


def _decide(
    pairs: list[_Pair], links: dict[int, tuple[str, int, str]], held: set[tuple[int, str]]
) -> tuple[
    dict[int, tuple[int, MatchMethod]],
    dict[tuple[MatchMethod, str, str], tuple[set[int], set[int]]],
]:
    """The link each customer should have, and the conflicts found."""
    groups: dict[tuple[MatchMethod, str, str], tuple[set[int], set[int]]] = defaultdict(
        lambda: (set(), set())
    )
    for pair in pairs:
        customers, subscribers = groups[(pair.kind, pair.value, pair.source)]
        customers.add(pair.customer_id)
        subscribers.add(pair.subscriber_id)
    conflicts = {
        key: group for key, group in groups.items() if len(group[0]) > 1 or len(group[1]) > 1
    }

    deep_linked = {(sub, source) for source, sub, how in links.values() if how == "deep_link"}
    taken: set[tuple[int, str]] = deep_linked | held  # (subscriber, source) already linked
    desired: dict[int, tuple[int, MatchMethod]] = {}
    for kind in (MatchMethod.PHONE, MatchMethod.EMAIL):  # the more trusted kind goes first
        for (group_kind, _, source), (customers, subscribers) in groups.items():
            if group_kind != kind or len(customers) > 1 or len(subscribers) > 1:
                continue
            (customer,), (subscriber,) = customers, subscribers
            if links.get(customer, ("", 0, ""))[2] == "deep_link" or customer in desired:
                continue
            if (subscriber, source) in taken:
                continue
            desired[customer] = (subscriber, kind)
            taken.add((subscriber, source))
    return desired, conflicts


async def erase_late_links(session: AsyncSession) -> None:
    """After a rematch's commit: customers linked to a subscriber whose erasure committed
    while the rematch ran (it had read their phone or email before) lose that link and
    what the erasure clears (`core.erasure.erase_late_rows`); commits."""
    linked = select(Customer.subscriber_id).join(
        Subscriber, Subscriber.id == Customer.subscriber_id
    )
    erased = (await session.scalars(linked.where(is_erased()).distinct())).all()
    if erased:
        await erase_late_rows(session, [each for each in erased if each is not None])
        await session.commit()


async def unlink_subscriber(session: AsyncSession, *, subscriber_id: int) -> int:
    """Cut every link between the subscriber and CRM customers (erasure); the caller commits.

    Returns how many customers were unlinked. The customers themselves stay: they are the
    shop's records, not the subscriber's.
    """
    unlinked = await session.scalars(
        update(Customer)
        .where(Customer.subscriber_id == subscriber_id)
        .values(subscriber_id=None, matched_by=None)
        .returning(Customer.id)
    )
    count = len(unlinked.all())
    await refresh_subscriber_purchases(session, subscriber_ids=[subscriber_id])
    return count
