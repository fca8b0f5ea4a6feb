"""The buttons under a campaign's progress message: Pause, Resume, Cancel and Duplicate
for those whose role allows campaigns (each pressed action audited), Refresh and Show for
everyone who may read reports, and for owners the run's unknown deliveries (listed and
resent by bot.admin.unknown_deliveries). A press redraws the message and keeps it current
while it sends; Duplicate saves a copy as a draft (broadcasts.cloning.copy_once) and
shows it in a message of its own.

A draft's Send now (same roles) turns the card into a question, whom it would reach; Yes
starts the run with the checks of `segbot campaign send-now`, and a second Yes finds the
run the first started (broadcasts.runs.take_campaign) and starts nothing.

A double press of Duplicate (Telegram delivering one tap twice, or a second tap because
the first's answer was slow) makes one copy: a press within AGAIN_AFTER
(bot.admin.campaign_commands, shared with the console's Duplicate) of a copy of the
same campaign is answered with that copy's name and audited, and copies nothing. The copy
is the record, in the database, so this holds however many bot processes share the
presses; a press after AGAIN_AFTER makes another copy, as it is meant to."""

from collections.abc import Awaitable, Callable

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message

from bot.admin import audit, unknown_deliveries
from bot.admin.campaign_commands import (
    AGAIN_AFTER,
    ASK_SEND,
    CONTROLS,
    SEND,
    CampaignAction,
    already_copied,
    campaign_view,
    follow,
    send_now,
    send_question,
    show,
)
from bot.admin.context import AdminContext
from bot.admin.permissions import Allowed, Permission
from broadcasts.campaigns import UnknownCampaignError, get_campaign
from broadcasts.cloning import copy_once
from broadcasts.runs import Cancelled, SentOnceError, cancel, pause, resume
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
        switched = await switch(ctx.session, campaign=campaign, now=ctx.clock())
        if isinstance(switched, Cancelled) and (switched.dropped or switched.under_way):
            done = f"Cancelled: {switched}."  # as `segbot campaign cancel` says
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
        copied = await copy_once(ctx.session, ref=original, now=ctx.clock(), within=AGAIN_AFTER)
    except SegbotError as error:
        await ctx.session.rollback()
        await _audit(ctx, "duplicate", original, str(error))
        await query.answer(str(error)[:200])
        return
    copy = copied.campaign
    if not copied.made:  # a second press: the first's answer and card say the rest
        await _audit(ctx, "duplicate", original, f"already copied: campaign {copy.id} {copy.name}")
        await query.answer(already_copied(copy.name)[:200])
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


async def _ask_send(query: CallbackQuery, callback_data: CampaignAction, ctx: AdminContext) -> None:
    """A draft's Send now: the card becomes the question (whom it would reach, Yes or No),
    and nothing starts until Yes. A stale card's press is told why and redrawn."""
    campaign_id = callback_data.campaign_id
    try:
        question = await send_question(
            ctx.session, campaign_id=campaign_id, now=ctx.clock(), rfm_names=ctx.services.rfm_names
        )
    except SegbotError as error:  # sent or cancelled since, a segment deleted, no campaign
        await ctx.session.rollback()
        await query.answer(str(error)[:200])
        await _redraw(query, campaign_id, ctx)
        return
    await query.answer()
    if isinstance(query.message, Message):
        try:
            await query.message.edit_text(question.text, reply_markup=question.markup)
        except TelegramBadRequest as error:  # Send now tapped twice: the question is up
            if "not modified" not in error.message:
                raise


async def _send(query: CallbackQuery, callback_data: CampaignAction, ctx: AdminContext) -> None:
    """Yes to a draft's Send now: start its run as `segbot campaign send-now` does, audit
    the press however it ends, and redraw the card, which follows the run as it sends."""
    campaign_id = callback_data.campaign_id
    try:
        done = await send_now(
            ctx.session, campaign_id=campaign_id, clock=ctx.clock, services=ctx.services
        )
        outcome = f"ok: {done}"
    except SentOnceError as error:  # the chat's way to a copy is not the command line's
        await ctx.session.rollback()
        outcome = done = f"{error.refused}; ⧉ Duplicate on its card makes a copy to send"
    except SegbotError as error:
        await ctx.session.rollback()
        outcome = done = str(error)
    await _audit(ctx, SEND, campaign_id, outcome)
    await query.answer(done[:200])
    await _redraw(query, campaign_id, ctx)


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


async def _is_ask_send(query: CallbackQuery, callback_data: CampaignAction) -> bool:
    return callback_data.action == ASK_SEND


async def _is_send(query: CallbackQuery, callback_data: CampaignAction) -> bool:
    return callback_data.action == SEND


def register_buttons(router: Router) -> None:
    router.callback_query.register(
        _control, CampaignAction.filter(), _is_control, Allowed(Permission.CAMPAIGNS)
    )
    router.callback_query.register(
        _duplicate, CampaignAction.filter(), _is_duplicate, Allowed(Permission.CAMPAIGNS)
    )
    router.callback_query.register(
        _ask_send, CampaignAction.filter(), _is_ask_send, Allowed(Permission.CAMPAIGNS)
    )
    router.callback_query.register(
        _send, CampaignAction.filter(), _is_send, Allowed(Permission.CAMPAIGNS)
    )
    router.callback_query.register(
        _view, CampaignAction.filter(), _is_view, Allowed(Permission.REPORTS)
    )
    unknown_deliveries.register_buttons(router)
