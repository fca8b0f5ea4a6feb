"""What each send step of a journey says, for its diagram: the step's first message (its
first target's first variant, in the journey's language) as the marketer wrote it, read
from the version's hidden campaign, where a journey's messages live (journeys.messages).
"""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.message_content import MessageContent
from broadcasts.models import Campaign, CampaignTarget
from broadcasts.telegram_html import TelegramHtmlError, plain_text

SHOWN = 160  # characters of a message's text in its box


@dataclass(frozen=True, slots=True)
class StepMessage:
    text: str  # the template's text without its markup, shortened to SHOWN
    kind: str  # text, photo, album, ...
    others: int  # how many more messages the step has (other targets and variants)


async def step_messages(session: AsyncSession, *, campaign_id: int) -> dict[str, StepMessage]:
    """Each send step's first message, by step id."""
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        return {}
    targets = await session.scalars(
        select(CampaignTarget)
        .where(CampaignTarget.campaign_id == campaign_id)
        .order_by(CampaignTarget.position)
    )
    firsts: dict[str, MessageContent] = {}
    counts: dict[str, int] = {}
    for target in targets:
        step = target.label.split("/")[0]  # labelled STEP/LABEL (journeys.messages)
        counts[step] = counts.get(step, 0) + len(target.variants)
        if step not in firsts and target.variants:
            firsts[step] = MessageContent.of_variant(target.variants[0], language=campaign.language)
    return {
        step: StepMessage(_shown(content.body), content.kind, counts[step] - 1)
        for step, content in firsts.items()
    }


def _shown(template: str) -> str:
    try:
        text = plain_text(template)
    except TelegramHtmlError:  # markup a template's logic balances only once rendered
        text = template
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"
