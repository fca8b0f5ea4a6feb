"""The console's Campaigns page: the list with a month's calendar, the composer, and each
campaign's page with its live progress (bot.console.campaign_live).

The composer (bot.console.campaign_form) builds the same campaign file `segbot campaign
create` reads, checked by the same parser (bot.console.campaign_spec). Its preview draws
each target's messages as Telegram will show them, composed by the sender's own code
(bot.console.campaign_messages); the test send sends those very messages to the admin's
own chat through the sender's Messenger; confirming saves the campaign as the chat
wizard does (broadcasts.campaigns.save_campaign) and wakes the scheduler, so "now" is
now. Each test send and each save is audited.
"""

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.admin.audience import audience_counts
from bot.admin.campaign_commands import schedule_text
from bot.admin.draft import Target, When
from bot.admin.permissions import Permission
from bot.console import campaign_live
from bot.console.campaign_bubble import bubble_html
from bot.console.campaign_calendar import campaign_month, first_of
from bot.console.campaign_form import CampaignForm, edit, read_form
from bot.console.campaign_messages import campaign_messages, send_to_self, sendable
from bot.console.campaign_spec import CampaignFormError, Composed, compose_campaign
from bot.console.context import admin, audit, posted, render, requires, services
from broadcasts.campaigns import list_campaigns, save_campaign
from broadcasts.message_spec import EFFECTS
from broadcasts.models import Campaign, Goal
from broadcasts.spec import NAME_PATTERN
from core.errors import SegbotError
from segments.ai.personas import list_personas
from segments.saved import list_segments

routes = web.RouteTableDef()
routes.get(r"/campaigns/{id:\d{1,18}}")(campaign_live.show)
routes.get(r"/campaigns/{id:\d{1,18}}/progress")(campaign_live.progress_fragment)
routes.post(r"/campaigns/{id:\d{1,18}}/{action:pause|resume|cancel}")(campaign_live.control)
routes.post(r"/campaigns/{id:\d{1,18}}/duplicate")(campaign_live.duplicate)
routes.get(r"/campaigns/{id:\d{1,18}}/send")(campaign_live.send_question)
routes.post(r"/campaigns/{id:\d{1,18}}/send")(campaign_live.send)
WHEN = {
    When.NOW: "Now",
    When.AT: "At a date and time",
    When.RECURRING: "Recurring (cron)",
    When.LOCAL: "On a day, at each subscriber's local time",
    When.BEST_HOUR: "On a day, at each audience's best hour",
}


@routes.get("/campaigns")
@requires(Permission.REPORTS)
async def page(request: web.Request) -> web.Response:
    """Every campaign, and the month's calendar (`?month=YYYY-MM`)."""
    console = services(request)
    now = console.clock()
    try:
        first = first_of(request.query.get("month"), today=now.date())
    except ValueError as error:
        return render(request, "campaigns_error.html", status=400, error=str(error))
    async with console.sessionmaker() as session:
        campaigns = await list_campaigns(session)
        month = await campaign_month(session, first=first, now=now)
    return render(
        request, "campaigns.html", campaigns=campaigns[::-1], month=month, schedule=schedule_text
    )


@routes.get("/campaigns/new")
@requires(Permission.CAMPAIGNS)
async def new(request: web.Request) -> web.Response:
    return render(
        request, "campaigns_new.html", main_button="Confirm", main_button_form="composer",
        **await _composer(request, CampaignForm()),
    )  # fmt: skip


@routes.post("/campaigns/compose")
@requires(Permission.CAMPAIGNS)
async def recompose(request: web.Request) -> web.Response:
    """The composer again, after a button added or removed a target or a variant, or the
    languages, an audience or the schedule's kind changed."""
    fields = await _fields(request)
    form = read_form(fields)
    edit(form, fields.get("edit", ""))
    return render(request, "campaigns_form.html", **await _composer(request, form))


@routes.post("/campaigns/preview")
@requires(Permission.CAMPAIGNS)
async def preview(request: web.Request) -> web.Response:
    """Each target's messages as Telegram will show them, and how many each reaches now."""
    console = services(request)
    composed = await _composed(request)
    if isinstance(composed, web.Response):
        return composed
    spec = composed.spec
    targets = [Target(label=t.name, segment=t.segment, query=t.query) for t in spec.audience]
    async with console.sessionmaker() as session:
        try:
            found = await audience_counts(
                session, targets, now=console.clock(), rfm_names=console.services.rfm_names
            )
        except SegbotError as error:
            return _refused(request, str(error), composed.yaml_text)
        existing = await session.scalar(select(Campaign).where(Campaign.name == spec.name))
    counts = [*found, *([None] if spec.default is not None else [])]
    messages = await asyncio.to_thread(campaign_messages, spec, chat_id=admin(request).user_id)
    return render(
        request, "campaigns_preview.html", spec=spec, yaml_text=composed.yaml_text,
        targets=list(zip(messages, counts, strict=True)), effects=_effect_names(),
        bubble=bubble_html, existing=existing,
    )  # fmt: skip


@routes.post("/campaigns/test")
@requires(Permission.CAMPAIGNS)
async def test_send(request: web.Request) -> web.Response:
    """Every message of the preview, to the admin's own chat, each with how it went."""
    composed = await _composed(request)
    if isinstance(composed, web.Response):
        return composed
    me = admin(request).user_id
    try:
        messages = sendable(await asyncio.to_thread(campaign_messages, composed.spec, chat_id=me))
    except SegbotError as error:
        return _refused(request, str(error), composed.yaml_text)
    results = await send_to_self(services(request).messenger, messages)
    sent = sum(ok for _, _, ok in results)
    await audit(request, "campaign.test", target=composed.spec.name,
                outcome=f"sent {sent} of {len(results)}")  # fmt: skip
    return render(request, "campaigns_test.html", results=results, sent=sent)


@routes.post("/campaigns")
@requires(Permission.CAMPAIGNS)
async def confirm(request: web.Request) -> web.Response:
    """Save and schedule the campaign; its page, with the run's progress."""
    console = services(request)
    composed = await _composed(request)
    if isinstance(composed, web.Response):
        return composed
    broadcasts = console.services.config.broadcasts
    try:
        async with console.sessionmaker() as session:
            campaign = await save_campaign(
                session, spec=composed.spec, now=console.clock(),
                public_url=console.settings.public_url, rfm_segments=console.services.rfm_names,
                paid_broadcasts=broadcasts.paid_broadcasts.enabled,
            )  # fmt: skip
    except SegbotError as error:
        await audit(request, "campaign.create", target=composed.spec.name, outcome=str(error))
        return _refused(request, str(error), composed.yaml_text)
    await audit(request, "campaign.create", target=f"campaign {campaign.id} {campaign.name}",
                outcome="ok")  # fmt: skip
    if console.services.campaigns is not None:
        await console.services.campaigns.sync()  # due now: starts it; later: schedules it
    shown = await campaign_live.campaign_page(request, campaign.id)
    where = f"/console/campaigns/{campaign.id}"
    shown.headers.update({"HX-Retarget": "#main", "HX-Reswap": "innerHTML", "HX-Push-Url": where})
    return shown


async def _fields(request: web.Request) -> dict[str, str]:
    return dict((await posted(request)).items())


async def _composed(request: web.Request) -> Composed | web.Response:
    """The campaign the posted form makes, or the page's answer saying what is wrong."""
    console = services(request)
    form = read_form(await _fields(request))
    try:
        async with console.sessionmaker() as session:
            return await compose_campaign(session, form, now=console.clock())
    except CampaignFormError as error:
        return _refused(request, str(error), error.yaml_text)


def _refused(request: web.Request, error: str, yaml_text: str | None) -> web.Response:
    return render(request, "campaigns_error.html", status=422, error=error, yaml_text=yaml_text)


async def _composer(request: web.Request, form: CampaignForm) -> dict[str, Any]:
    """What the composer's form is drawn with: the form, and what a target may be."""
    async with services(request).sessionmaker() as session:
        segments = [s.name for s in await list_segments(session) if NAME_PATTERN.match(s.name)]
        personas = [persona.name for persona in await list_personas(session)]
    return {
        "form": form, "segments": segments, "personas": personas, "goals": list(Goal),
        "when": WHEN, "effects": list(EFFECTS),
    }  # fmt: skip


def _effect_names() -> Mapping[str, str]:
    return {effect_id: name for name, effect_id in EFFECTS.items()}
