"""Saved segments: a name, a rule, a description, an owner, and every earlier version.

Service functions: keyword-only arguments, an AsyncSession, and the commit (if any) here.
A rule that does not parse, refers to a missing segment, closes a cycle between
segments, or would be beyond the rule language's limits once `in segment` is expanded (it,
or a segment that refers to it) is refused with a RuleError; nothing is saved. So every
saved segment compiles.
"""

from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import for_audience_queries
from core.errors import SegbotError
from core.models import SubscriberTag
from segments.explain import Explanation, explain
from segments.models import (
    Segment,
    SegmentKind,
    SegmentMember,
    SegmentVersion,
    membership_tag,
)
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules import (
    JsonRule,
    Rule,
    RuleError,
    RuleLimitError,
    RuleReferenceError,
    check_limits,
    from_json,
    parse,
    segment_references,
    to_json,
    to_text,
)
from segments.rules.compiler import count

MAX_NAME = 64
SAVE_ATTEMPTS = 3  # a save that meets another of the same name looks again this often
RfmNames = Collection[str]


class UnknownSegmentError(SegbotError):
    """No saved segment has that name."""


class SegmentNameError(SegbotError):
    """A segment name must be 1-64 printable characters."""


def check_references(name: str, rule: Rule, saved: Mapping[str, Rule]) -> None:
    """RuleReferenceError if `rule`, saved as `name` among `saved`, names a missing
    segment or makes segments refer to each other in a cycle."""
    graph = {**saved, name: rule}
    visiting: list[str] = []

    def visit(current: str) -> None:
        if current in visiting:
            cycle = " -> ".join([*visiting[visiting.index(current) :], current])
            raise RuleReferenceError(f"segments would refer to each other in a cycle: {cycle}")
        visiting.append(current)
        for reference in sorted(segment_references(graph[current])):
            if reference not in graph:
                raise RuleReferenceError(f"no segment named {reference!r}")
            visit(reference)
        visiting.pop()

    visit(name)


def check_expanded_limits(name: str, rule: Rule, saved: Mapping[str, Rule]) -> None:
    """RuleLimitError if `rule`, saved as `name` among `saved`, or a segment that refers
    to it (directly or through others), is beyond the limits with `in segment` expanded."""
    graph = {**saved, name: rule}
    referrers: dict[str, set[str]] = {}
    for other, other_rule in graph.items():
        for reference in segment_references(other_rule):
            referrers.setdefault(reference, set()).add(other)
    affected, pending = {name}, [name]
    while pending:
        for referrer in referrers.get(pending.pop(), set()) - affected:
            affected.add(referrer)
            pending.append(referrer)
    for other in sorted(affected, key=lambda each: (each != name, each)):
        try:
            check_limits(graph[other], segments=graph)
        except RuleLimitError as error:
            if other == name:
                raise
            raise RuleLimitError(f"segment {other!r} refers to it: {error.reason}") from None


async def saved_rules(
    session: AsyncSession, *, rfm_segments: RfmNames = DEFAULT_SEGMENT_MAP.names
) -> dict[str, Rule]:
    """Every saved segment's rule by name (what `in segment NAME` resolves against).

    A rule that no longer type-checks (say an RFM segment name the map has since dropped)
    is left out, so it reads as missing; `broken_rules` says why.
    """
    rules, _ = await _load_rules(session, rfm_segments)
    return rules


async def broken_rules(
    session: AsyncSession, *, rfm_segments: RfmNames = DEFAULT_SEGMENT_MAP.names
) -> dict[str, str]:
    """Saved segments whose rule no longer type-checks, with the reason."""
    _, broken = await _load_rules(session, rfm_segments)
    return broken


async def _load_rules(
    session: AsyncSession, rfm_segments: RfmNames
) -> tuple[dict[str, Rule], dict[str, str]]:
    rules, broken = {}, {}
    for name, stored in (await session.execute(select(Segment.name, Segment.rule))).all():
        try:
            rules[name] = from_json(stored, rfm_segments=rfm_segments)
        except RuleError as error:
            broken[name] = str(error)
    return rules, broken


async def save_segment(
    session: AsyncSession,
    *,
    name: str,
    rule_text: str,
    now: datetime,
    description: str | None = None,
    owner: str | None = None,
    rfm_segments: RfmNames = DEFAULT_SEGMENT_MAP.names,
) -> Segment:
    """Create the segment, or save a new version of it when the rule or description
    changed; commits. RuleError (nothing saved) when the rule cannot be used."""
    name = name.strip()
    if not (0 < len(name) <= MAX_NAME and name.isprintable()):
        raise SegmentNameError(f"a segment name is 1-{MAX_NAME} printable characters")
    rule = parse(rule_text, rfm_segments=rfm_segments)
    others = await saved_rules(session, rfm_segments=rfm_segments)
    others.pop(name, None)
    check_references(name, rule, others)
    check_expanded_limits(name, rule, others)
    stored = to_json(rule)
    for _ in range(SAVE_ATTEMPTS):
        try:
            return await _store(
                session, name, stored, to_text(rule), now=now, description=description,
                owner=owner,
            )  # fmt: skip
        except IntegrityError:  # saved at the same moment (a double click): look again
            await session.rollback()
    raise SegmentNameError(f"{name!r} is being saved by someone else: try again")


async def _store(
    session: AsyncSession,
    name: str,
    stored: JsonRule,
    rule_text: str,
    *,
    now: datetime,
    description: str | None,
    owner: str | None,
) -> Segment:
    """Create the segment named `name` or give it a new version, unless it holds this
    rule and description already; commits."""
    segment = await session.scalar(select(Segment).where(Segment.name == name))
    if segment is not None and segment.kind is not SegmentKind.RULE:
        raise SegmentNameError(
            f"{name!r} is a generated ({segment.kind.value}) segment: save under another name"
        )
    if segment is not None and segment.rule == stored and segment.description == description:
        return segment
    if segment is None:
        segment = Segment(name=name, version=0, created_at=now)
        session.add(segment)
    segment.rule, segment.rule_text = stored, rule_text
    segment.description, segment.owner = description, owner
    segment.version += 1
    segment.updated_at = now
    await session.flush()
    session.add(
        SegmentVersion(
            segment_id=segment.id,
            version=segment.version,
            rule=stored,
            rule_text=segment.rule_text,
            description=description,
            owner=owner,
            saved_at=now,
        )
    )
    await session.commit()
    return segment


async def delete_segments(session: AsyncSession, *, segment_ids: Collection[int]) -> None:
    """Delete the segments with their members, versions, size history and profiles (the
    members here: their table keeps no foreign keys, see `SegmentMember`), and the tags
    that held a generated segment's members. No commit."""
    ids = list(segment_ids)
    tags = [membership_tag(segment_id) for segment_id in ids]
    await session.execute(delete(SubscriberTag).where(SubscriberTag.tag.in_(tags)))
    await session.execute(delete(SegmentMember).where(SegmentMember.segment_id.in_(ids)))
    await session.execute(delete(Segment).where(Segment.id.in_(ids)))


async def list_segments(session: AsyncSession) -> list[Segment]:
    return list((await session.scalars(select(Segment).order_by(Segment.name))).all())


async def get_segment(session: AsyncSession, *, name: str) -> Segment:
    segment = await session.scalar(select(Segment).where(Segment.name == name))
    if segment is None:
        raise UnknownSegmentError(f"no segment named {name!r}")
    return segment


async def segment_versions(session: AsyncSession, *, name: str) -> list[SegmentVersion]:
    segment = await get_segment(session, name=name)
    rows = await session.scalars(
        select(SegmentVersion)
        .where(SegmentVersion.segment_id == segment.id)
        .order_by(SegmentVersion.version)
    )
    return list(rows.all())


async def count_matching(
    session: AsyncSession,
    *,
    rule_text: str,
    now: datetime,
    rfm_segments: RfmNames = DEFAULT_SEGMENT_MAP.names,
) -> int:
    """How many subscribers the rule selects right now (saved segments resolve by name)."""
    rule = parse(rule_text, rfm_segments=rfm_segments)
    segments = await saved_rules(session, rfm_segments=rfm_segments)
    await for_audience_queries(session)
    return int(await session.scalar(count(rule, now=now, segments=segments)) or 0)


async def explain_membership(
    session: AsyncSession,
    *,
    name: str,
    subscriber_id: int,
    now: datetime,
    rfm_segments: RfmNames = DEFAULT_SEGMENT_MAP.names,
) -> Explanation:
    """Which predicates of the saved segment hold for the subscriber, and which do not."""
    segments = await saved_rules(session, rfm_segments=rfm_segments)
    if name not in segments:
        raise UnknownSegmentError(f"no segment named {name!r}")
    return await explain(
        session, subscriber_id=subscriber_id, rule=segments[name], now=now, segments=segments
    )


async def member_count(session: AsyncSession, *, segment_id: int) -> int:
    statement = select(func.count()).where(SegmentMember.segment_id == segment_id)
    return int(await session.scalar(statement) or 0)
