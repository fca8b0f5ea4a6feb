"""The segment builder's live count: the subscribers a rule selects now and how many are
active, a sample with every predicate held or not, `in segment` resolved against the
saved segments, and why a rule about CRM customers selects nobody."""

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.console.segment_preview import preview
from core.clock import utcnow
from core.models import SubscriberStatus
from crm_sync.models import Customer
from segments.rules import RuleReferenceError, RuleSyntaxError
from segments.saved import save_segment
from tests.broadcasts.audience import add_subscribers

RFM = ("champions", "loyal")


async def people(session: AsyncSession) -> list[int]:
    """Two active Spanish speakers, one who left, three English speakers: the row ids."""
    spanish = await add_subscribers(session, 2, first_id=10, language="es")
    left = await add_subscribers(
        session, 1, first_id=20, language="es", status=SubscriberStatus.UNSUBSCRIBED
    )
    return [*spanish, *left, *await add_subscribers(session, 3, first_id=30, language="en")]


async def test_the_count_the_active_and_why_each_sampled_member_is_in(
    session: AsyncSession,
) -> None:
    ids = await people(session)
    found = await preview(
        session, rule_text="LANG = es or buyer", now=utcnow(), rfm_segments=RFM, sample=2
    )
    assert (found.rule, found.total, found.active) == ("lang = es or buyer", 3, 2)
    assert [member.id for member in found.sample] == ids[:2]
    first = found.sample[0]
    assert (first.name, first.status) == ("User10", "active")
    assert [(check.predicate, check.held) for check in first.checks] == [
        ("lang = es", True),
        ("buyer", False),
    ]
    assert found.why_none is None


async def test_saved_segments_resolve_by_name_and_a_missing_one_is_an_error(
    session: AsyncSession,
) -> None:
    await people(session)
    await save_segment(session, name="spanish", rule_text="lang = es", now=utcnow())
    found = await preview(
        session, rule_text="in segment spanish and status = active", now=utcnow(),
        rfm_segments=RFM,
    )  # fmt: skip
    assert found.total == 2
    with pytest.raises(RuleReferenceError, match="no segment named 'nobody'"):
        await preview(session, rule_text="in segment nobody", now=utcnow(), rfm_segments=RFM)
    with pytest.raises(RuleSyntaxError) as wrong:
        await preview(session, rule_text="lang = es and", now=utcnow(), rfm_segments=RFM)
    assert wrong.value.position == len("lang = es and")


async def test_a_rule_about_customers_none_linked_says_why_it_selects_nobody(
    session: AsyncSession,
) -> None:
    await people(session)
    now = utcnow()
    session.add(Customer(source="shop", external_id="1", created_at=now, updated_at=now))
    await session.commit()
    found = await preview(session, rule_text="orders >= 1", now=now, rfm_segments=RFM)
    assert (found.total, found.sample) == (0, [])
    assert found.why_none == "0 subscribers (1 customer, 0 linked to a subscriber)"
    nobody = await preview(session, rule_text="lang = fr", now=now, rfm_segments=RFM)
    assert nobody.why_none is None  # not a rule about customers: nothing to explain
