"""Deleting a saved segment is refused while a campaign or a journey still names it, in
an audience or inside a rule (`in segment`), and names what uses it."""

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin.segment_deletion import SegmentInUseError, delete_segment
from core.models import SubscriberTag
from journeys.models import JourneyStatus
from journeys.spec import parse_journey
from journeys.store import save_journey, set_status
from segments.ai.store import add_generated
from segments.models import SegmentKind, membership_tag
from segments.saved import UnknownSegmentError, get_segment, save_segment
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from

RULE_CAMPAIGN = """
name: rule
audience:
  - {query: "lang = en and in segment vip", label: v, text: hi}
"""
ENTRY_JOURNEY = """
name: vips
trigger: subscribed
entry: {rule: "in segment vip"}
steps:
  - id: hi
    send: {text: Hi}
"""
ACTOR = 1


async def test_a_campaign_naming_the_segment_in_its_rule_keeps_it(session: AsyncSession) -> None:
    await save_segment(session, name="vip", rule_text="lang = es", now=NOW)
    campaign = await campaign_from(session, RULE_CAMPAIGN)
    with pytest.raises(SegmentInUseError, match=f"campaign #{campaign.id} rule; cancel"):
        await delete_segment(session, name="vip", rfm_segments=())


async def test_a_journey_keeps_the_segment_until_it_is_archived(session: AsyncSession) -> None:
    await save_segment(session, name="vip", rule_text="lang = es", now=NOW)
    await save_journey(
        session, spec=parse_journey(ENTRY_JOURNEY), source=ENTRY_JOURNEY, now=NOW, actor=ACTOR,
        rfm_segments=(),
    )  # fmt: skip
    with pytest.raises(SegmentInUseError) as refused:
        await delete_segment(session, name="vip", rfm_segments=())
    # The journey by its name: its messages' own campaign is not one anyone can reach.
    assert "used by journey vips; archive it first" in str(refused.value)
    assert "campaign" not in str(refused.value)

    await set_status(session, name="vips", status=JourneyStatus.ARCHIVED, now=NOW, actor=ACTOR)
    await delete_segment(session, name="vip", rfm_segments=())
    with pytest.raises(UnknownSegmentError):
        await get_segment(session, name="vip")


async def test_a_deleted_lookalike_takes_its_members_tags_and_the_next_has_only_its_own(
    session: AsyncSession,
) -> None:
    ids = await add_subscribers(session, 8)
    first = await add_generated(
        session, name="look1", kind=SegmentKind.LOOKALIKE, members=np.array(ids[:5]),
        profile={}, description="", now=NOW,
    )  # fmt: skip
    await session.commit()
    await delete_segment(session, name="look1", rfm_segments=())
    assert await tagged(session, membership_tag(first.id)) == 0
    second = await add_generated(
        session, name="look2", kind=SegmentKind.LOOKALIKE, members=np.array(ids[4:]),
        profile={}, description="", now=NOW,
    )  # fmt: skip
    await session.commit()
    assert await tagged(session, membership_tag(second.id)) == 4


async def tagged(session: AsyncSession, tag: str) -> int:
    counted = select(func.count()).select_from(SubscriberTag).where(SubscriberTag.tag == tag)
    return int(await session.scalar(counted) or 0)
