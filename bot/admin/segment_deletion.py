"""Deleting a saved segment, refused while anything still depends on it.

A service function without aiogram (AsyncSession in, the commit here). It asks the
campaigns as well as the segments, and `segments` may not import `broadcasts`
(docs/architecture.md), so it sits above both, with the console that uses it.
"""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Campaign, CampaignStatus, CampaignTarget
from core.errors import SegbotError
from segments.rules import segment_references
from segments.saved import RfmNames, delete_segments, get_segment, saved_rules

OPEN_CAMPAIGNS = (
    CampaignStatus.DRAFT,
    CampaignStatus.SCHEDULED,
    CampaignStatus.RUNNING,
    CampaignStatus.PAUSED,
)


class SegmentInUseError(SegbotError):
    """Another segment's rule or an unfinished campaign uses the segment."""


async def delete_segment(session: AsyncSession, *, name: str, rfm_segments: RfmNames) -> None:
    """Delete the segment with its versions, members and size history; commits.
    UnknownSegmentError if there is none; SegmentInUseError naming what uses it."""
    segment = await get_segment(session, name=name)
    rules = await saved_rules(session, rfm_segments=rfm_segments)
    users = sorted(
        other for other, rule in rules.items() if other != name and name in segment_references(rule)
    )
    if users:
        raise SegmentInUseError(
            f"Segment {name!r} is used by {', '.join(users)} (in segment {name}); "
            "change those first."
        )
    campaigns = (
        await session.execute(
            select(Campaign.id, Campaign.name)
            .join(CampaignTarget, CampaignTarget.campaign_id == Campaign.id)
            .where(CampaignTarget.segment == name, Campaign.status.in_(OPEN_CAMPAIGNS))
            .distinct()
            .order_by(Campaign.id)
        )
    ).all()
    if campaigns:
        named = ", ".join(f"#{campaign_id} {campaign}" for campaign_id, campaign in campaigns)
        raise SegmentInUseError(
            f"Segment {name!r} is the audience of campaign {named}; cancel or finish it first."
        )
    await delete_segments(session, segment_ids=[segment.id])
    await session.commit()
