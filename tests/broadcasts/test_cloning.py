"""Cloning a campaign: the same audience, messages and limits under a new name, as a draft
that never fires beside the original."""

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.campaigns import UnknownCampaignError, get_campaign
from broadcasts.cloning import CampaignNameError, clone_campaign
from broadcasts.message_content import MessageContent
from broadcasts.models import Campaign, CampaignStatus, ScheduleKind
from tests.broadcasts.audience import NOW, campaign_from

SCHEDULED = """
name: autumn
language: es
holdout: 10
quiet_hours: {start: "21:00", end: "09:00"}
audience:
  - query: "lang = pt"
    label: watchers
    video: https://cdn.example/promo.mp4
    caption: {es: Mira, pt: Olha}
    effect: fire
    buttons: [[{text: A, data: a}, {text: B, copy_text: CODE}]]
default:
  variants:
    - {name: a, split: 50, text: "Hola", link_preview: off}
    - {name: b, split: 50, album: [{photo: "https://x.example/1.jpg"}, {photo: "https://x.example/2.jpg"}]}
schedule: {cron: "0 10 * * 1", timezone: Europe/Madrid}
"""


def contents(campaign: Campaign) -> list[tuple[str, str, int, MessageContent]]:
    return [
        (target.label, variant.name, variant.split_percent,
         MessageContent.of_variant(variant, language=campaign.language))
        for target in campaign.targets
        for variant in target.variants
    ]  # fmt: skip


async def test_a_clone_is_the_same_campaign_as_a_draft_sent_by_hand(session: AsyncSession) -> None:
    original = await campaign_from(session, SCHEDULED)
    clone = await clone_campaign(session, ref="autumn", name="autumn.again", now=NOW)
    assert clone.id != original.id
    assert (clone.name, clone.status, clone.schedule_kind) == (
        "autumn.again",
        CampaignStatus.DRAFT,
        ScheduleKind.MANUAL,
    )
    assert clone.cron is None
    assert (clone.holdout_percent, clone.quiet_start, clone.language) == (10, "21:00", "es")
    assert [(t.label, t.rule_text) for t in clone.targets] == [
        ("watchers", "lang = pt"),
        ("default", None),
    ]
    assert contents(clone) == contents(original)
    again = await get_campaign(session, ref="autumn")
    assert (again.status, again.cron) == (CampaignStatus.SCHEDULED, "0 10 * * 1")


async def test_a_clone_without_a_name_is_named_after_the_original(session: AsyncSession) -> None:
    await campaign_from(session, SCHEDULED)
    first = await clone_campaign(session, ref="autumn", now=NOW)
    second = await clone_campaign(session, ref="autumn", now=NOW)
    assert (first.name, second.name) == ("autumn-copy", "autumn-copy2")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("autumn", "a campaign named 'autumn' exists already"),
        ("new name", "'new name' is not a campaign name: 1-64 characters of A-Z a-z 0-9 _ . -"),
        ("x" * 65, "is not a campaign name"),
    ],
)
async def test_a_taken_or_bad_name_is_refused(
    session: AsyncSession, name: str, reason: str
) -> None:
    await campaign_from(session, SCHEDULED)
    with pytest.raises(CampaignNameError, match=reason):
        await clone_campaign(session, ref="autumn", name=name, now=NOW)


async def test_cloning_nothing_is_refused(session: AsyncSession) -> None:
    with pytest.raises(UnknownCampaignError):
        await clone_campaign(session, ref="nope", name="copy", now=NOW)
