"""The demo's campaign: one message per segment (Spanish speakers, deal seekers) and a
default for everyone else, personalised, scheduled a moment ahead and sent by the
running bot through the emulator; then what each segment got."""

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.campaigns import save_campaign
from broadcasts.models import CampaignTarget, Delivery, DeliveryStatus, RunStatus
from broadcasts.runs import latest_run, progress
from broadcasts.spec import parse_campaign
from cli.tables import FittedTable
from core.clock import utcnow
from core.settings import Settings

NAME = "demo_autumn"
LEAD_SECONDS = 2  # the campaign is scheduled this far ahead of saving it
SEND_TIMEOUT = 20.0
CAMPAIGN = """
name: {name}
goal: clicks
audience:
  - segment: spanish_speakers
    text: "¡Hola, {{{{ first_name }}}}! Rebajas de otoño: https://shop.example/es/otono"
  - segment: deal_seekers
    text: "{{{{ first_name }}}}, the deals we picked for you: https://shop.example/deals"
    buttons: [{{text: See the deals, url: "https://shop.example/deals"}}]
default:
  text: "Hi {{{{ first_name }}}}, our autumn collection is here: https://shop.example/autumn"
holdout: 0
schedule: {{at: "{at}"}}
"""
COLUMNS = (DeliveryStatus.SENT, DeliveryStatus.BLOCKED, DeliveryStatus.FAILED)


@dataclass(frozen=True, slots=True)
class SentCampaign:
    campaign_id: int
    run_id: int


async def schedule_and_send(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, console: Console
) -> SentCampaign:
    """Save the campaign for a moment from now, wait for the bot to send it, show it."""
    at = utcnow() + timedelta(seconds=LEAD_SECONDS)
    spec = parse_campaign(CAMPAIGN.format(name=NAME, at=at.isoformat()), source="demo")
    async with sessionmaker() as session:
        campaign = await save_campaign(
            session, spec=spec, now=utcnow(), public_url=settings.public_url
        )
    console.print(f"Scheduled campaign {NAME} for {at:%H:%M:%S} UTC: two segments and a default.")
    run_id = await _sent(sessionmaker, campaign.id)
    async with sessionmaker() as session:
        console.print(await _per_segment(session, run_id))
    return SentCampaign(campaign.id, run_id)


async def _sent(sessionmaker: async_sessionmaker[AsyncSession], campaign_id: int) -> int:
    """The campaign's run, once the bot has sent all of it."""
    async with asyncio.timeout(SEND_TIMEOUT):
        while True:
            async with sessionmaker() as session:
                run = await latest_run(session, campaign_id=campaign_id)
                state = None if run is None else await progress(session, run_id=run.id)
            if state is not None and state.status is not RunStatus.SENDING:
                return state.run_id
            await asyncio.sleep(0.2)


async def _per_segment(session: AsyncSession, run_id: int) -> FittedTable:
    rows = await session.execute(
        select(
            CampaignTarget.position,
            CampaignTarget.label,
            CampaignTarget.segment,
            Delivery.status,
            Delivery.reason,
            func.count(),
        )
        .join(CampaignTarget, CampaignTarget.id == Delivery.target_id)
        .where(Delivery.run_id == run_id)
        .group_by(
            CampaignTarget.position,
            CampaignTarget.label,
            CampaignTarget.segment,
            Delivery.status,
            Delivery.reason,
        )
        .order_by(CampaignTarget.position)
    )
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for _, label, segment, status, reason, count in rows.all():
        cells = counts.setdefault((label, segment or "everyone else"), {})
        key = f"excluded ({reason})" if status is DeliveryStatus.EXCLUDED else status.value
        cells[key] = cells.get(key, 0) + count
    table = FittedTable(
        "target", "audience", "targeted", *(s.value for s in COLUMNS), "other",
        key=2, title=f"Campaign {NAME}, run {run_id}: deliveries per segment",
    )  # fmt: skip
    for (label, audience), cells in counts.items():
        shown = [cells.pop(status.value, 0) for status in COLUMNS]
        other = ", ".join(f"{key} {n}" for key, n in sorted(cells.items())) or "—"
        targeted = sum(shown) + sum(cells.values())
        table.add_row(label, audience, str(targeted), *map(str, shown), other)
    return table
