"""`/campaigns` and `/campaign ID`: a campaign's state with a live progress message, edited
as its run sends, and Pause, Resume, Cancel and Duplicate buttons for those allowed to use
them; on a draft (a Duplicate's copy, a file saved without a schedule) Send now, which asks
first with the audience it would reach, so a copy made in the chat can be sent from it.
The run's unknown deliveries are counted with their reasons; owners get a button that
lists them and offers to resend (bot.admin.unknown_deliveries). The console's campaign page
(bot.console.campaign_live) has the same Duplicate and Send now through what is shared
here: Duplicate's window (AGAIN_AFTER), Send now's count (draft_reach) and start
(send_now)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from aiogram import Bot
from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.admin.audience import audience_counts
from bot.admin.context import AdminContext
from bot.admin.draft import Target
from bot.admin.monospace import bold, table
from bot.admin.permissions import AdminUser, Permission
from bot.admin.registry import AdminCommand, Call
from bot.admin.services import AdminServices
from bot.admin.unknown_deliveries import OWNER_ONLY, reasons_text, unknown_button
from broadcasts.campaigns import get_campaign, list_campaigns
from broadcasts.claims import live_senders
from broadcasts.models import Campaign, CampaignStatus, DeliveryStatus, Run, RunStatus
from broadcasts.planner import start_run
from broadcasts.runs import Progress, RunStateError, latest_run, progress
from broadcasts.unknowns import unknown_counts
from core.clock import Clock
from core.ids import Id
from core.models import Subscriber, SubscriberStatus
from segments.saved import RfmNames

BAR = 12
LISTED = 10
CONTROLS = ("pause", "resume", "cancel")
ASK_SEND, SEND = "ask_send", "send"  # a draft's Send now, then its Yes
# A Duplicate press this soon after a copy of the campaign was saved asks for that copy
# (broadcasts.cloning.copy_once), in the chat and in the console.
AGAIN_AFTER = timedelta(seconds=10)


class CampaignAction(CallbackData, prefix="admc"):
    action: str  # show, refresh, pause, resume, cancel, duplicate, ask_send, send
    campaign_id: Id


@dataclass(frozen=True, slots=True)
class View:
    text: str
    markup: InlineKeyboardMarkup | None
    sending: bool  # worth keeping current


def schedule_text(campaign: Campaign) -> str:
    if campaign.cron:
        return f"every {campaign.cron} ({campaign.schedule_timezone})"
    if campaign.local_time and campaign.schedule_day:
        return f"{campaign.schedule_day} at {campaign.local_time} local time"
    if campaign.schedule_kind.value == "best_hour" and campaign.schedule_day:
        return f"{campaign.schedule_day} at each audience's best hour"
    if campaign.run_at:
        return f"at {campaign.run_at:%Y-%m-%d %H:%M} UTC"
    return campaign.schedule_kind.value


def _bar(done: int, total: int) -> str:
    filled = 0 if total == 0 else round(BAR * done / total)
    share = 0 if total == 0 else 100 * done // total
    return f"{'▓' * filled}{'░' * (BAR - filled)} {share}% ({done:,} of {total:,})"


def _progress_lines(state: Progress, unknown: dict[str, int]) -> list[str]:
    done = state.to_send - state.pending
    counts = [
        f"{status.value} {state.count(status):,}"
        for status in (
            DeliveryStatus.SENT,
            DeliveryStatus.FAILED,
            DeliveryStatus.BLOCKED,
            DeliveryStatus.UNKNOWN,
            DeliveryStatus.QUEUED,
            DeliveryStatus.CANCELLED,
        )
        if state.count(status)
    ]
    lines = [f"Run {state.run_id}: {bold(state.status.value)}", _bar(done, state.to_send)]
    lines.append(" · ".join(counts) or "nothing to send")
    if state.excluded:
        lines.append(
            "excluded: " + ", ".join(f"{r or 'other'} {n:,}" for r, n in state.excluded.items())
        )
    if unknown:
        lines.append(
            f"unknown {sum(unknown.values()):,} (may or may not have arrived): "
            + escape(reasons_text(unknown))
        )
    if state.status is RunStatus.SENDING and state.per_second:
        eta = f" · about {state.eta_seconds:.0f} s left" if state.eta_seconds else ""
        lines.append(f"{state.per_second:.1f} messages/s{eta}")
    return lines


def _buttons(
    campaign: Campaign, run: Run | None, admin: AdminUser, unknown: int
) -> InlineKeyboardMarkup:
    def button(text: str, action: str) -> InlineKeyboardButton:
        data = CampaignAction(action=action, campaign_id=campaign.id).pack()
        return InlineKeyboardButton(text=text, callback_data=data)

    row = []
    if admin.can(Permission.CAMPAIGNS):
        if campaign.status is CampaignStatus.DRAFT:
            row.append(button("▶ Send now", ASK_SEND))
        if run is not None and run.status is RunStatus.SENDING:
            row.append(button("⏸ Pause", "pause"))
        if run is not None and run.status is RunStatus.PAUSED:
            row.append(button("▶ Resume", "resume"))
        if campaign.status.value in ("draft", "scheduled", "running", "paused"):
            row.append(button("✖ Cancel", "cancel"))
    row.append(button("↻ Refresh", "refresh"))
    rows = [row]
    if admin.can(Permission.CAMPAIGNS):
        rows.append([button("⧉ Duplicate", "duplicate")])
    if run is not None and unknown and admin.can(OWNER_ONLY):
        rows.append([unknown_button(run.id, unknown)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def campaign_view(session: AsyncSession, *, campaign_id: int, admin: AdminUser) -> View:
    campaign = await get_campaign(session, ref=campaign_id)
    await session.refresh(campaign)
    run = await latest_run(session, campaign_id=campaign.id)
    targets = ", ".join(
        f"{target.label} ({len(target.variants)} variant{'s' * (len(target.variants) > 1)})"
        for target in campaign.targets
    )
    lines = [
        f"{bold(f'Campaign #{campaign.id} {campaign.name}')} — {campaign.status.value}",
        f"Goal {campaign.goal.value} · {escape(schedule_text(campaign))}",
        f"Audience: {escape(targets)}",
    ]
    state = None if run is None else await progress(session, run_id=run.id)
    unknown = {}
    if state is not None and state.count(DeliveryStatus.UNKNOWN):
        unknown = await unknown_counts(session, run_id=state.run_id)
    lines += ["No run yet."] if state is None else _progress_lines(state, unknown)
    # The run finishes first, the campaign just after: follow until both have settled.
    sending = state is not None and (
        state.status is RunStatus.SENDING or campaign.status is CampaignStatus.RUNNING
    )
    markup = _buttons(campaign, run, admin, sum(unknown.values()))
    return View("\n".join(lines), markup, sending)


@dataclass(frozen=True, slots=True)
class Reach:
    """Whom a draft would reach if sent now: each target's label and its count."""

    campaign: Campaign
    targets: list[tuple[str, int]]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.targets)


async def draft_reach(
    session: AsyncSession, *, campaign_id: int, now: datetime, rfm_names: RfmNames
) -> Reach:
    """The draft and whom each of its targets would reach now: what Send now asks about,
    in the chat and in the console (bot.console.campaign_live), counted once here.
    RunStateError if it is no longer a draft: a stale button, pressed once the campaign
    was sent or cancelled."""
    campaign = await get_campaign(session, ref=campaign_id)
    await session.refresh(campaign)
    if campaign.status is not CampaignStatus.DRAFT:
        raise RunStateError(_no_longer_a_draft(campaign))
    return Reach(campaign, await _reach(session, campaign, now=now, rfm_names=rfm_names))


def _no_longer_a_draft(campaign: Campaign) -> str:
    return (
        f"{campaign.name} is {campaign.status.value}, no longer a draft: "
        "its card shows where it stands"
    )


async def send_question(
    session: AsyncSession, *, campaign_id: int, now: datetime, rfm_names: RfmNames
) -> View:
    """What a draft's Send now asks before anything starts: whom the campaign would reach
    now, and Yes or No (No shows the card again). RunStateError if it is no longer a
    draft (draft_reach)."""
    reach = await draft_reach(session, campaign_id=campaign_id, now=now, rfm_names=rfm_names)
    campaign, total = reach.campaign, reach.total
    each = " · ".join(f"{escape(label)} {count:,}" for label, count in reach.targets)
    lines = [
        bold(f"Send campaign #{campaign.id} {campaign.name} now?"),
        f"Audience: {bold(f'{total:,} subscribers')} ({each})",
        f"Frequency cap: who has had {_messages(campaign.cap_messages)} in the last "
        f"{campaign.cap_hours} h is left out.",
    ]
    if campaign.holdout_percent:
        lines.append(f"A {campaign.holdout_percent}% holdout gets nothing (it measures lift).")
    if campaign.quiet_start and campaign.quiet_end:
        lines.append(
            f"Quiet hours {campaign.quiet_start}-{campaign.quiet_end}: who is in theirs "
            "gets it when they end."
        )
    answers = [
        ("✅ Yes, send now", SEND),
        ("No", "refresh"),
    ]
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=text,
                    callback_data=CampaignAction(action=action, campaign_id=campaign.id).pack(),
                )
                for text, action in answers
            ]
        ]
    )
    return View("\n".join(lines), markup, sending=False)


def _messages(count: int) -> str:
    return f"{count:,} message{'s' * (count != 1)}"


async def _reach(
    session: AsyncSession, campaign: Campaign, *, now: datetime, rfm_names: RfmNames
) -> list[tuple[str, int]]:
    """Each target's label and the active subscribers it would message now, counted as the
    wizard counts before its Confirm (bot.admin.audience: each goes to the first target
    that takes them); the default target takes every active subscriber the others leave."""
    chosen = [target for target in campaign.targets if not target.is_default]
    counts = await audience_counts(
        session,
        [Target(label=t.label, segment=t.segment, query=t.rule_text) for t in chosen],
        now=now,
        rfm_names=rfm_names,
    )
    reach = [(target.label, count) for target, count in zip(chosen, counts, strict=True)]
    default = next((target for target in campaign.targets if target.is_default), None)
    if default is not None:
        active = await session.scalar(
            select(func.count()).where(Subscriber.status == SubscriberStatus.ACTIVE)
        )
        reach.append((default.label, int(active or 0) - sum(counts)))
    return reach


async def send_now(
    session: AsyncSession, *, campaign_id: int, clock: Clock, services: AdminServices
) -> str:
    """Start the campaign's run as `segbot campaign send-now` does
    (broadcasts.planner.start_run), for a draft's Yes in the chat and in the console: a
    second Yes (a double tap, another admin's) finds the run the first started, starts
    nothing and raises RunStateError saying so, as it does for a campaign scheduled since
    the question was asked (it goes at its time). What started, in words."""
    campaign = await get_campaign(session, ref=campaign_id)  # a forged id: told as Pause's
    await session.refresh(campaign)
    if campaign.status is CampaignStatus.SCHEDULED:  # a Yes to a question asked before
        raise RunStateError(_no_longer_a_draft(campaign))
    plan = await start_run(
        session, campaign_id=campaign.id, now=clock(),
        rfm_segments=services.rfm_names, best_hour=services.config.broadcasts.best_hour,
    )  # fmt: skip
    if isinstance(plan, Run):
        raise RunStateError(
            f"run {plan.id} of {campaign.name} is already {plan.status.value}: "
            "nothing new was started"
        )
    waiting = f"{plan.postponed:,} of them wait for quiet hours or their local time"
    later = f" ({waiting})" if plan.postponed else ""
    started = f"Run {plan.run.id} started: {plan.queued:,} to send{later}."
    if not await live_senders(session, now=clock()):
        started += " No sender is running (segbot run): it waits until one starts."
    return started


def already_copied(name: str) -> str:
    """The answer to a second Duplicate within AGAIN_AFTER: the copy the first made, and
    when another may be."""
    seconds = int(AGAIN_AFTER.total_seconds())
    return f"Already copied as {name} (a draft). For another copy, press again in {seconds} s."


Refresh = Callable[[], Awaitable[bool]]


def live_refresh(
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    chat_id: int,
    message_id: int,
    campaign_id: int,
    admin: AdminUser,
    shown: str,
) -> Refresh:
    """One step of keeping a progress message current: edit it if anything changed;
    answer whether the run is still sending."""
    last = [shown]

    async def refresh() -> bool:
        async with sessionmaker() as session:
            view = await campaign_view(session, campaign_id=campaign_id, admin=admin)
        if view.text != last[0]:
            await bot.edit_message_text(
                text=view.text, chat_id=chat_id, message_id=message_id, reply_markup=view.markup
            )
            last[0] = view.text
        return view.sending

    return refresh


async def show(message: Message, ctx: AdminContext, *, view: View, campaign_id: int) -> Message:
    """Send the campaign view and keep it current while its run sends."""
    sent = await message.answer(view.text, reply_markup=view.markup)
    follow(sent, ctx, view=view, campaign_id=campaign_id)
    return sent


def follow(message: Message, ctx: AdminContext, *, view: View, campaign_id: int) -> None:
    """Keep `message`, which shows `view`, current while the campaign's run sends (with
    sessions of its own: the update's ends with its handler)."""
    if not view.sending:
        return
    refresh = live_refresh(
        ctx.bot,
        ctx.sessionmaker,
        chat_id=message.chat.id,
        message_id=message.message_id,
        campaign_id=campaign_id,
        admin=ctx.admin,
        shown=view.text,
    )
    ctx.services.live.follow(message.chat.id, message.message_id, refresh)


async def campaigns_command(call: Call) -> None:
    if call.args:
        raise call.usage("/campaigns takes no arguments.")
    campaigns = await list_campaigns(call.session)
    if not campaigns:
        await call.reply("No campaigns yet: /broadcast starts the wizard.")
        return
    latest = campaigns[::-1][:LISTED]
    rows = [(c.id, c.name, c.status.value) for c in latest]
    buttons = [
        [
            InlineKeyboardButton(
                text=f"#{c.id} {c.name}",
                callback_data=CampaignAction(action="show", campaign_id=c.id).pack(),
            )
        ]
        for c in latest
    ]
    await call.message.answer(
        f"{bold('Campaigns')} (latest {len(latest)} of {len(campaigns)})\n"
        f"{table(['id', 'name', 'status'], rows)}\nTap one, or /campaign ID.",
        reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons),
    )


async def campaign_command(call: Call) -> None:
    ref = call.single("the campaign's id or name")
    campaign = await get_campaign(call.session, ref=ref)
    view = await campaign_view(call.session, campaign_id=campaign.id, admin=call.admin)
    await show(call.message, call.ctx, view=view, campaign_id=campaign.id)


COMMANDS = (
    AdminCommand(
        "campaigns", Permission.REPORTS, "/campaigns", "The latest campaigns", campaigns_command
    ),
    AdminCommand(
        "campaign",
        Permission.REPORTS,
        "/campaign ID",
        "A campaign's live progress, with pause, resume and cancel; send a draft",
        campaign_command,
    ),
)
