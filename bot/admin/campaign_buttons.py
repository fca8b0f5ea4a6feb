"""The buttons under a campaign's progress message: Pause, Resume, Cancel and Duplicate
for those whose role allows campaigns (each pressed action audited), Refresh and Show for
everyone who may read reports, and for owners the run's unknown deliveries (listed and
resent by bot.admin.unknown_deliveries). A press redraws the message and keeps it current
while it sends; Duplicate saves a copy as a draft (broadcasts.campaigns.clone_campaign)
and shows it in a message of its own."""

from collections.abc import Awaitable, Callable

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message

from bot.admin import audit, unknown_deliveries
from bot.admin.campaign_commands import CONTROLS, CampaignAction, campaign_view, follow, show
from bot.admin.context import AdminContext
from bot.admin.permissions import Allowed, Permission
from broadcasts.campaigns import UnknownCampaignError, get_campaign
from broadcasts.cloning import clone_campaign
from broadcasts.runs import cancel, pause, resume
from core.errors import SegbotError

Switch = Callable[..., Awaitable[object]]
_SWITCHES: dict[str, tuple[Switch, str]] = {
    "pause": (pause, "Paused."),
    "resume": (resume, "Resumed."),
    "cancel": (cancel, "Cancelled."),
}


async def _control(query: CallbackQuery, callback_data: CampaignAction, ctx: AdminContext) -> None:
    switch, done = _SWITCHES[callback_data.action]
    outcome = "ok"
    try:
        campaign = await get_campaign(ctx.session, ref=callback_data.campaign_id)
        dropped = await switch(ctx.session, campaign=campaign, now=ctx.clock())
        if isinstance(dropped, int) and dropped:  # a cancel's, as `segbot campaign cancel`
            done = f"Cancelled: {dropped:,} queued messages will not be sent."
    except SegbotError as error:
        await ctx.session.rollback()
        outcome = done = str(error)
    await _audit(ctx, callback_data.action, callback_data.campaign_id, outcome)
    await query.answer(done[:200])
    await _redraw(query, callback_data.campaign_id, ctx)


async def _duplicate(
    query: CallbackQuery, callback_data: CampaignAction, ctx: AdminContext
) -> None:
    original = callback_data.campaign_id
    try:
        copy = await clone_campaign(ctx.session, ref=original, now=ctx.clock())
    except SegbotError as error:
        await ctx.session.rollback()
        await _audit(ctx, "duplicate", original, str(error))
        await query.answer(str(error)[:200])
        return
    await _audit(ctx, "duplicate", original, f"ok: campaign {copy.id} {copy.name}")
    await query.answer(f"Saved a copy: {copy.name} (a draft)."[:200])
    if isinstance(query.message, Message):
        view = await campaign_view(ctx.session, campaign_id=copy.id, admin=ctx.admin)
        await show(query.message, ctx, view=view, campaign_id=copy.id)


async def _audit(ctx: AdminContext, action: str, campaign_id: int, outcome: str) -> None:
    await audit.record(
        ctx.sessionmaker,
        admin_id=ctx.admin.user_id,
        action=f"campaign.{action}",
        now=ctx.clock(),
        target=f"campaign {campaign_id}",
        outcome=outcome,
    )


async def _view(query: CallbackQuery, callback_data: CampaignAction, ctx: AdminContext) -> None:
    campaign_id = callback_data.campaign_id
    try:
        view = await campaign_view(ctx.session, campaign_id=campaign_id, admin=ctx.admin)
    except UnknownCampaignError as error:  # a button nobody made: its press is told why
        await query.answer(str(error)[:200])
        return
    await query.answer()
    if callback_data.action == "show" and isinstance(query.message, Message):
        await show(query.message, ctx, view=view, campaign_id=campaign_id)
        return
    await _redraw(query, campaign_id, ctx)


async def _redraw(query: CallbackQuery, campaign_id: int, ctx: AdminContext) -> None:
    """Show the campaign's state in the pressed message, and keep it current if sending."""
    message = query.message
    if not isinstance(message, Message):
        return
    try:
        view = await campaign_view(ctx.session, campaign_id=campaign_id, admin=ctx.admin)
    except UnknownCampaignError:  # a button nobody made: the press's answer said so
        return
    try:
        await message.edit_text(view.text, reply_markup=view.markup)
    except TelegramBadRequest as error:  # Refresh with nothing new to show
        if "not modified" not in error.message:
            raise
    follow(message, ctx, view=view, campaign_id=campaign_id)


async def _is_control(query: CallbackQuery, callback_data: CampaignAction) -> bool:
    return callback_data.action in CONTROLS


async def _is_view(query: CallbackQuery, callback_data: CampaignAction) -> bool:
    return callback_data.action in ("show", "refresh")


async def _is_duplicate(query: CallbackQuery, callback_data: CampaignAction) -> bool:
    return callback_data.action == "duplicate"


def register_buttons(router: Router) -> None:
    router.callback_query.register(
        _control, CampaignAction.filter(), _is_control, Allowed(Permission.CAMPAIGNS)
    )
    router.callback_query.register(
        _duplicate, CampaignAction.filter(), _is_duplicate, Allowed(Permission.CAMPAIGNS)
    )
    router.callback_query.register(
        _view, CampaignAction.filter(), _is_view, Allowed(Permission.REPORTS)
    )
    unknown_deliveries.register_buttons(router)
