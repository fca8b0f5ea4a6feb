from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Event, EventType, Subscriber
from segments import membership
from segments.membership import MembershipRefresh, refresh_memberships, size_history
from segments.models import Segment, SegmentMember
from segments.rules import RuleReferenceError, RuleSyntaxError, RuleTypeError
from segments.rules.compiler import SegmentRules
from segments.saved import (
    SegmentNameError,
    UnknownSegmentError,
    count_matching,
    delete_segments,
    explain_membership,
    get_segment,
    list_segments,
    save_segment,
    segment_versions,
)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def people(session: AsyncSession, *languages: str | None) -> list[int]:
    ids = []
    for number, language in enumerate(languages, start=1):
        subscriber = Subscriber(
            telegram_id=number, chat_id=number, language_code=language, subscribed_at=NOW,
            last_seen_at=NOW, attributes={},
        )  # fmt: skip
        session.add(subscriber)
        await session.flush()
        ids.append(subscriber.id)
    await session.commit()
    return ids


async def test_saving_keeps_every_version(session: AsyncSession) -> None:
    first = await save_segment(session, name="spanish", rule_text="lang = es", now=NOW, owner="ana")
    again = await save_segment(session, name="spanish", rule_text="lang  =  es", now=NOW)
    assert (first.version, again.version) == (1, 1)  # nothing changed: no new version
    later = NOW + timedelta(hours=1)
    changed = await save_segment(
        session, name="spanish", rule_text="lang in (es, ca)", now=later, description="ES+CA"
    )
    assert changed.version == 2
    assert changed.rule == {"field": "lang", "op": "in", "value": ["es", "ca"]}
    versions = await segment_versions(session, name="spanish")
    assert [(v.version, v.rule_text, v.owner) for v in versions] == [
        (1, "lang = es", "ana"),
        (2, "lang in (es, ca)", None),
    ]
    assert [segment.name for segment in await list_segments(session)] == ["spanish"]


@pytest.mark.parametrize(
    ("name", "text", "error", "message"),
    [
        ("bad", "lang = ", RuleSyntaxError, "expected a value"),
        ("bad", 'age > "abc"', RuleTypeError, "needs a number"),
        ("bad", "in segment vip", RuleReferenceError, "no segment named 'vip'"),
        ("base", "lang = es and in segment top", RuleReferenceError, "cycle: base -> top -> base"),
        ("self", "in segment self", RuleReferenceError, "cycle: self -> self"),
        ("", "lang = es", SegmentNameError, "1-64"),
    ],
)
async def test_bad_segments_are_refused_and_nothing_is_saved(
    session: AsyncSession, name: str, text: str, error: type[Exception], message: str
) -> None:
    await save_segment(session, name="base", rule_text="lang = es", now=NOW)
    await save_segment(session, name="top", rule_text="in segment base and buyer", now=NOW)
    with pytest.raises(error, match=message):
        await save_segment(session, name=name, rule_text=text, now=NOW)
    await session.rollback()
    saved = {segment.name: segment.rule_text for segment in await list_segments(session)}
    assert saved == {"base": "lang = es", "top": "in segment base and buyer"}
    with pytest.raises(UnknownSegmentError):
        await get_segment(session, name="bad")


async def test_count_and_explain(session: AsyncSession) -> None:
    ids = await people(session, "es", "es", "en", None)
    await save_segment(session, name="spanish", rule_text="lang = es", now=NOW)
    assert await count_matching(session, rule_text="in segment spanish or lang = en", now=NOW) == 3
    explanation = await explain_membership(session, name="spanish", subscriber_id=ids[2], now=NOW)
    assert not explanation.matches
    assert [(check.predicate, check.held) for check in explanation.checks] == [("lang = es", False)]
    with pytest.raises(UnknownSegmentError):
        await explain_membership(session, name="nope", subscriber_id=ids[0], now=NOW)


async def events_of(session: AsyncSession, kind: EventType) -> list[int]:
    rows = await session.scalars(
        select(Event.subscriber_id).where(Event.type == kind).order_by(Event.subscriber_id)
    )
    return list(rows.all())


async def test_refresh_materialises_members_and_logs_transitions(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    ann, bo, cy = await people(session, "es", "es", "en")
    await save_segment(session, name="spanish", rule_text="lang = es", now=NOW)
    await save_segment(session, name="hot", rule_text="in segment spanish and tag:vip", now=NOW)

    first = await refresh_memberships(sessionmaker, now=NOW)
    assert [(o.segment, o.size, o.entered, o.left) for o in first] == [
        ("hot", 0, 0, 0),
        ("spanish", 2, 2, 0),
    ]
    assert await refresh_memberships(sessionmaker, now=NOW, names=["spanish"]) == [
        type(first[0])("spanish", 2, 0, 0)
    ]
    await session.execute(update(Subscriber).where(Subscriber.id == bo).values(language_code="en"))
    await session.execute(update(Subscriber).where(Subscriber.id == cy).values(language_code="es"))
    await session.commit()
    later = NOW + timedelta(hours=1)
    (second,) = await refresh_memberships(sessionmaker, now=later, names=["spanish"])
    assert (second.size, second.entered, second.left) == (2, 1, 1)

    members = await session.scalars(select(SegmentMember.subscriber_id).order_by("subscriber_id"))
    assert members.all() == [ann, cy]
    # The first refresh set the baseline (ann and bo were in it when it was made): only
    # the later crossings are events.
    assert await events_of(session, EventType.SEGMENT_ENTERED) == [cy]
    assert await events_of(session, EventType.SEGMENT_LEFT) == [bo]
    left = await session.scalar(select(Event).where(Event.type == EventType.SEGMENT_LEFT))
    assert left is not None
    assert left.occurred_at == later
    segment = await get_segment(session, name="spanish")
    await session.refresh(segment)
    assert (segment.size, segment.refreshed_at) == (2, later)
    history = await size_history(session, segment_id=segment.id)
    assert [(h.size, h.entered, h.left) for h in history] == [(2, 2, 0), (2, 0, 0), (2, 1, 1)]


async def test_a_broken_segment_is_reported_and_the_rest_refresh(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    await people(session, "es")
    await save_segment(session, name="best", rule_text="rfm = champions", now=NOW)
    await save_segment(session, name="spanish", rule_text="lang = es", now=NOW)
    outcomes = await refresh_memberships(sessionmaker, now=NOW, rfm_segments=("recent", "lapsed"))
    assert outcomes[0].segment == "best"
    assert "rfm is one of recent, lapsed" in str(outcomes[0].error)
    assert (outcomes[1].segment, outcomes[1].size, outcomes[1].error) == ("spanish", 1, None)
    assert await session.scalar(select(func.count()).select_from(Segment)) == 2


async def test_a_failing_refresh_raises_its_own_error(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Segments may refresh side by side; a failure still surfaces as itself (not
    wrapped in an exception group), as it would one segment at a time."""
    await people(session, "es")
    for name in ("a", "b", "c"):
        await save_segment(session, name=name, rule_text="lang = es", now=NOW)
    refresh_segment = membership.refresh_segment

    async def failing_on_b(
        session: AsyncSession, *, segment: Segment, rules: SegmentRules, now: datetime
    ) -> MembershipRefresh:
        if segment.name == "b":
            raise OSError("the database went away")
        return await refresh_segment(session, segment=segment, rules=rules, now=now)

    monkeypatch.setattr(membership, "refresh_segment", failing_on_b)
    with pytest.raises(OSError, match="went away"):
        await refresh_memberships(sessionmaker, now=NOW)


async def test_deleting_segments_takes_their_members_and_a_gone_subscriber_just_leaves(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    ann, bo = await people(session, "es", "es")
    spanish = await save_segment(session, name="spanish", rule_text="lang = es", now=NOW)
    await save_segment(session, name="all", rule_text="not lang = xx", now=NOW)
    await refresh_memberships(sessionmaker, now=NOW)

    # Members keep no foreign keys: a subscriber row deleted outright (segbot only ever
    # erases one in place) leaves at the next refresh, with no event for nobody.
    await session.execute(delete(Subscriber).where(Subscriber.id == bo))
    await session.commit()
    (refreshed,) = await refresh_memberships(sessionmaker, now=NOW, names=["spanish"])
    assert (refreshed.size, refreshed.left) == (1, 1)
    assert await events_of(session, EventType.SEGMENT_LEFT) == []

    await delete_segments(session, segment_ids=[spanish.id])
    await session.commit()
    assert [segment.name for segment in await list_segments(session)] == ["all"]
    members = await session.execute(select(SegmentMember.segment_id, SegmentMember.subscriber_id))
    remaining = await get_segment(session, name="all")
    assert sorted(tuple(row) for row in members) == [(remaining.id, ann), (remaining.id, bo)]
