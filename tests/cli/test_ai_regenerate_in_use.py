"""Regenerating AI segments replaces all of them: refused, naming what uses one, while a
campaign, a journey or another segment's rule still does, before any clustering and with
nothing changed. Once nothing uses them, they are replaced as before."""

import json

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from broadcasts.models import Campaign, CampaignStatus
from cli.segments import app as segments_app
from segments.models import Segment, SegmentKind
from segments.saved import save_segment
from tests.broadcasts.audience import NOW, campaign_from
from tests.cli.conftest import invoke
from tests.segments.ai.planted import plant

K = ("--k-min", "3", "--k-max", "3")


async def ai_segments(session: AsyncSession) -> list[str]:
    names = await session.scalars(
        select(Segment.name)
        .where(Segment.kind == SegmentKind.AI)
        .order_by(Segment.name)
        .execution_options(populate_existing=True)
    )
    return list(names.all())


async def test_regenerating_is_refused_while_a_campaign_or_a_rule_uses_an_ai_segment(
    runner: CliRunner, session: AsyncSession
) -> None:
    await plant(session, per_group=20)
    assert (await invoke(runner, segments_app, "generate", *K)).exit_code == 0
    before = await ai_segments(session)
    used = before[0]
    # A name with spaces and a colon: a campaign reaches it by a rule (YAML reads JSON).
    target = {"query": f"in segment {json.dumps(used)}", "label": "ai", "text": "Hi"}
    campaign = await campaign_from(session, json.dumps({"name": "spring", "audience": [target]}))

    refused = await invoke(runner, segments_app, "generate", *K)
    assert refused.exit_code != 0
    assert f"Segment {used!r} is the audience of campaign #{campaign.id} spring" in (refused.output)
    assert await ai_segments(session) == before

    await session.execute(
        update(Campaign).where(Campaign.id == campaign.id).values(status=CampaignStatus.CANCELLED)
    )
    await session.commit()
    await save_segment(session, name="fans", rule_text=f"in segment {json.dumps(used)}", now=NOW)
    refused = await invoke(runner, segments_app, "generate", *K)
    assert refused.exit_code != 0
    assert f"Segment {used!r} is used by fans (in segment {used})" in refused.output
    assert await ai_segments(session) == before


async def test_once_nothing_uses_them_they_are_replaced(
    runner: CliRunner, session: AsyncSession
) -> None:
    await plant(session, per_group=20)
    assert (await invoke(runner, segments_app, "generate", *K)).exit_code == 0
    before = await ai_segments(session)
    again = await invoke(runner, segments_app, "generate", *K)
    assert again.exit_code == 0, again.output
    assert f"replaced 3 AI segments: {', '.join(before)}" in again.output
