"""A campaign's page: what it sends to whom and when, and its latest run's live progress.

The progress is a fragment that reloads itself every POLL_SECONDS while the run sends,
or while the campaign is about to start, and stops once it has settled. Pause, Resume and
Cancel, for those whose role allows campaigns, call the same broadcasts.runs functions as
the chat's /campaign buttons (bot.admin.campaign_buttons), and each press is audited with
how it ended. So do Duplicate and a draft's Send now, through the chat's own code
(bot.admin.campaign_commands): Duplicate saves one copy however often it is pressed within
AGAIN_AFTER and leads to the copy's page; Send now first asks, with whom each target would
reach counted as the chat counts (draft_reach), and its Yes starts the run as the chat's
does (send_now), so a second Yes starts nothing. Handlers here are routed by
bot.console.pages.campaigns.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin.campaign_commands import (
    AGAIN_AFTER,
    already_copied,
    draft_reach,
    schedule_text,
    send_now,
)
from bot.admin.permissions import Permission
from bot.console.context import audit, render, requires, services
from broadcasts.campaigns import UnknownCampaignError, get_campaign
from broadcasts.cloning import copy_once
from broadcasts.models import (
    Campaign,
    CampaignStatus,
    DeliveryStatus,
    RunStatus,
    ScheduleKind,
)
from broadcasts.runs import Progress, SentOnceError, cancel, latest_run, pause, progress, resume
from broadcasts.scheduler import next_occurrence, start_instant
from core.errors import SegbotError

POLL_SECONDS = 2
SOON = timedelta(minutes=1)  # a scheduled campaign this close to starting is followed
SHOWN = (
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.BLOCKED,
    DeliveryStatus.UNKNOWN,
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENDING,
    DeliveryStatus.CANCELLED,
)
ALWAYS_SHOWN = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.QUEUED)
CANCELLABLE = (
    CampaignStatus.DRAFT,
    CampaignStatus.SCHEDULED,
    CampaignStatus.RUNNING,
    CampaignStatus.PAUSED,
)
_SWITCHES = {"pause": pause, "resume": resume}


@dataclass(frozen=True, slots=True)
class Live:
    """A campaign and where its latest run stands."""

    campaign: Campaign
    schedule: str
    state: Progress | None
    following: bool  # the page asks again in POLL_SECONDS

    @property
    def counts(self) -> list[tuple[str, int]]:
        if self.state is None:
            return []
        state = self.state
        return [(s.value, n) for s in SHOWN if (n := state.count(s)) or s in ALWAYS_SHOWN]

    @property
    def done(self) -> int:
        return 0 if self.state is None else self.state.to_send - self.state.pending

    @property
    def can_pause(self) -> bool:
        return self.state is not None and self.state.status is RunStatus.SENDING

    @property
    def can_resume(self) -> bool:
        return self.state is not None and self.state.status is RunStatus.PAUSED

    @property
    def can_cancel(self) -> bool:
        return self.campaign.status in CANCELLABLE

    @property
    def can_send(self) -> bool:
        """A draft is sent by hand (Send now); any other campaign sends itself, or has."""
        return self.campaign.status is CampaignStatus.DRAFT


async def live(session: AsyncSession, campaign_id: int, *, now: datetime) -> Live:
    """The campaign (UnknownCampaignError if none) and its latest run's progress."""
    found = await get_campaign(session, ref=campaign_id)
    # Read afresh: replaced meanwhile (a second Confirm of the same draft), it is gone.
    campaign = await session.get(Campaign, found.id, populate_existing=True)
    if campaign is None:
        raise UnknownCampaignError(f"no campaign with id {campaign_id}")
    run = await latest_run(session, campaign_id=campaign.id)
    state = None if run is None else await progress(session, run_id=run.id)
    # The run finishes first, the campaign just after; a paused run's claims go back to
    # the queue within a second: follow until all of it has settled.
    moving = state is not None and (
        state.status is RunStatus.SENDING or state.count(DeliveryStatus.SENDING) > 0
    )
    following = moving or campaign.status is CampaignStatus.RUNNING or _soon(campaign, now)
    return Live(campaign, schedule_text(campaign), state, following)


def _soon(campaign: Campaign, now: datetime) -> bool:
    if campaign.status is not CampaignStatus.SCHEDULED:
        return False
    if campaign.schedule_kind is ScheduleKind.CRON:
        moment = next_occurrence(campaign, now)
    else:
        moment = start_instant(campaign)
    return moment is not None and moment <= now + SOON


async def _live_or_404(request: web.Request, campaign_id: int) -> Live:
    console = services(request)
    try:
        async with console.sessionmaker() as session:
            return await live(session, campaign_id, now=console.clock())
    except UnknownCampaignError:
        gone = render(request, "campaigns_gone.html", status=404, campaign_id=campaign_id)
        raise web.HTTPNotFound(text=gone.text, content_type="text/html") from None


async def campaign_page(
    request: web.Request, campaign_id: int, *, said: str | None = None
) -> web.Response:
    """The campaign's page, its progress following the run (with `said` above it)."""
    found = await _live_or_404(request, campaign_id)
    if said is None:
        return render(request, "campaigns_show.html", live=found, poll=POLL_SECONDS)
    return render(
        request, "campaigns_show.html", live=found, poll=POLL_SECONDS, said=said, refused=False
    )


@requires(Permission.REPORTS)
async def show(request: web.Request) -> web.Response:
    return await campaign_page(request, int(request.match_info["id"]))


@requires(Permission.REPORTS)
async def progress_fragment(request: web.Request) -> web.Response:
    found = await _live_or_404(request, int(request.match_info["id"]))
    return render(request, "campaigns_progress.html", live=found, poll=POLL_SECONDS)


@requires(Permission.CAMPAIGNS)
async def control(request: web.Request) -> web.Response:
    """Pause, resume or cancel; the progress again with how it went (409 if it could
    not: nothing to pause, already over...)."""
    console = services(request)
    action, campaign_id = request.match_info["action"], int(request.match_info["id"])
    outcome = "ok"
    try:
        async with console.sessionmaker() as session:
            campaign = await get_campaign(session, ref=campaign_id)
            if action == "cancel":
                cancelled = await cancel(session, campaign=campaign, now=console.clock())
                said = f"Cancelled: {cancelled}."
            else:
                await _SWITCHES[action](session, campaign=campaign, now=console.clock())
                said = f"{action.capitalize()}d."
    except SegbotError as error:
        said = outcome = str(error)
    await audit(request, f"campaign.{action}", target=f"campaign {campaign_id}",
                outcome=outcome)  # fmt: skip
    return await _progress_saying(request, campaign_id, said, refused=outcome != "ok")


@requires(Permission.CAMPAIGNS)
async def duplicate(request: web.Request) -> web.Response:
    """Save a copy as a draft, as the chat's Duplicate does, and show the copy's page. A
    second press within AGAIN_AFTER (a double click, a slow answer) makes no second copy:
    it shows the first's, saying so. 409 where the progress was if it could not."""
    console = services(request)
    campaign_id = int(request.match_info["id"])
    try:
        async with console.sessionmaker() as session:
            copied = await copy_once(
                session, ref=campaign_id, now=console.clock(), within=AGAIN_AFTER
            )
    except SegbotError as error:
        await audit(request, "campaign.duplicate", target=f"campaign {campaign_id}",
                    outcome=str(error))  # fmt: skip
        return await _progress_saying(request, campaign_id, str(error), refused=True)
    copy = copied.campaign
    named = f"campaign {copy.id} {copy.name}"
    if copied.made:
        outcome, said = f"ok: {named}", f"Saved a copy: {copy.name} (a draft)."
    else:
        outcome, said = f"already copied: {named}", already_copied(copy.name)
    await audit(request, "campaign.duplicate", target=f"campaign {campaign_id}", outcome=outcome)
    shown = await campaign_page(request, copy.id, said=said)
    where = f"/console/campaigns/{copy.id}"
    shown.headers.update({"HX-Retarget": "#main", "HX-Reswap": "innerHTML", "HX-Push-Url": where})
    return shown


@requires(Permission.CAMPAIGNS)
async def send_question(request: web.Request) -> web.Response:
    """A draft's Send now asks before anything starts: whom each target would reach now
    (bot.admin.campaign_commands.draft_reach, the chat's question's count), Yes or No, in
    the progress's place. 409 there if it is no longer a draft."""
    console = services(request)
    campaign_id = int(request.match_info["id"])
    try:
        async with console.sessionmaker() as session:
            reach = await draft_reach(
                session, campaign_id=campaign_id, now=console.clock(),
                rfm_names=console.services.rfm_names,
            )  # fmt: skip
    except SegbotError as error:  # sent or cancelled since, a segment deleted, no campaign
        return await _progress_saying(request, campaign_id, str(error), refused=True)
    return render(request, "campaigns_send.html", reach=reach)


@requires(Permission.CAMPAIGNS)
async def send(request: web.Request) -> web.Response:
    """Yes to a draft's Send now: start its run as the chat's Yes does (send_now), audited
    however it ends; the progress again, following the run. A second Yes starts nothing:
    409 saying the run the first started is under way."""
    console = services(request)
    campaign_id = int(request.match_info["id"])
    try:
        async with console.sessionmaker() as session:
            said = await send_now(
                session, campaign_id=campaign_id, clock=console.clock, services=console.services
            )
        outcome, refused = f"ok: {said}", False
    except SentOnceError as error:  # the console's way to a copy is not the command line's
        said = outcome = f"{error.refused}; ⧉ Duplicate makes a copy to send"
        refused = True
    except SegbotError as error:
        said = outcome = str(error)
        refused = True
    await audit(request, "campaign.send", target=f"campaign {campaign_id}", outcome=outcome)
    return await _progress_saying(request, campaign_id, said, refused=refused)


async def _progress_saying(
    request: web.Request, campaign_id: int, said: str, *, refused: bool
) -> web.Response:
    """The progress again with how a press went: 200, or 409 if it was refused (nothing
    to pause, already over...); 404 if the campaign is gone."""
    after = await _live_or_404(request, campaign_id)
    return render(
        request, "campaigns_progress.html", status=409 if refused else 200, live=after,
        poll=POLL_SECONDS, said=said, refused=refused,
    )  # fmt: skip
