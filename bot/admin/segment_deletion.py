"""Deleting a saved segment, refused while anything still depends on it; the same check
for AI segments a regeneration would replace (`refuse_if_used`).

A service function without aiogram (AsyncSession in, the commit here). It asks the
campaigns and the journeys as well as the segments, and `segments` may not import
`broadcasts` or `journeys` (docs/architecture.md), so it sits above them all, with the
console that uses it.
"""

from collections.abc import Collection

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Campaign, CampaignKind, CampaignStatus, CampaignTarget
from core.errors import NotPossibleError
from journeys.checks import segments_named
from journeys.models import Enrolment, EnrolmentStatus, Journey, JourneyStatus, JourneyVersion
from journeys.spec import stored_spec
from segments.rules import segment_references, segments_named_in
from segments.saved import RfmNames, delete_segments, get_segment, saved_rules

OPEN_CAMPAIGNS = (
    CampaignStatus.DRAFT,
    CampaignStatus.SCHEDULED,
    CampaignStatus.RUNNING,
    CampaignStatus.PAUSED,
)


class SegmentInUseError(NotPossibleError):
    """Another segment's rule, an unfinished campaign or a journey uses the segment."""


async def delete_segment(session: AsyncSession, *, name: str, rfm_segments: RfmNames) -> None:
    """Delete the segment with its versions, members and size history; commits.
    UnknownSegmentError if there is none; SegmentInUseError naming what uses it."""
    segment = await get_segment(session, name=name)
    await refuse_if_used(session, [name], rfm_segments=rfm_segments)
    await delete_segments(session, segment_ids=[segment.id])
    await session.commit()


async def refuse_if_used(
    session: AsyncSession, names: Collection[str], *, rfm_segments: RfmNames
) -> None:
    """SegmentInUseError naming what uses the first of `names` (in name order) that another
    segment's rule (not one of `names`), an unfinished campaign or a journey still uses:
    those segments may not go."""
    rules = await saved_rules(session, rfm_segments=rfm_segments)
    for name in sorted(names):
        users = sorted(
            other
            for other, rule in rules.items()
            if other not in names and name in segment_references(rule)
        )
        if users:
            raise SegmentInUseError(
                f"Segment {name!r} is used by {', '.join(users)} (in segment {name}); "
                "change those first."
            )
        campaigns = await _open_campaigns_using(session, name, rfm_segments)
        if campaigns:
            raise SegmentInUseError(
                f"Segment {name!r} is the audience of campaign {', '.join(campaigns)}; "
                "cancel or finish it first."
            )
        journeys = await _journeys_using(session, name, rfm_segments)
        if journeys:
            raise SegmentInUseError(
                f"Segment {name!r} is used by journey {', '.join(journeys)}; archive it "
                "first, or save a version without it and wait for everyone on the earlier "
                "one to leave."
            )


async def _open_campaigns_using(
    session: AsyncSession, name: str, rfm_segments: RfmNames
) -> list[str]:
    """The unfinished broadcasts ("#id name") with the segment as an audience, or in an
    audience's rule (`in segment`). Journeys' own campaigns are asked as journeys."""
    targets = await session.execute(
        select(Campaign.id, Campaign.name, CampaignTarget.segment, CampaignTarget.rule_text)
        .join(CampaignTarget, CampaignTarget.campaign_id == Campaign.id)
        .where(Campaign.kind == CampaignKind.BROADCAST, Campaign.status.in_(OPEN_CAMPAIGNS))
        .order_by(Campaign.id)
    )
    using: dict[str, None] = {}  # in order, each once
    for campaign_id, campaign, segment, rule_text in targets:
        in_rule = segments_named_in(rule_text, rfm_segments=rfm_segments) if rule_text else set()
        if name == segment or name in in_rule:
            using[f"#{campaign_id} {campaign}"] = None
    return list(using)


async def _journeys_using(session: AsyncSession, name: str, rfm_segments: RfmNames) -> list[str]:
    """The journeys not archived whose latest version, or a version someone is still
    inside, names the segment."""
    someone_inside = exists().where(
        Enrolment.version_id == JourneyVersion.id, Enrolment.status == EnrolmentStatus.ACTIVE
    )
    versions = await session.execute(
        select(Journey.name, JourneyVersion.spec)
        .join(JourneyVersion, JourneyVersion.journey_id == Journey.id)
        .where(
            Journey.status != JourneyStatus.ARCHIVED,
            (JourneyVersion.version == Journey.version) | someone_inside,
        )
        .order_by(Journey.id)
    )
    using = {
        journey: None
        for journey, spec in versions
        if name in segments_named(stored_spec(spec), rfm_segments=rfm_segments)
    }
    return list(using)
