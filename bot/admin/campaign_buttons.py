"""The buttons under a campaign's progress message: Pause, Resume and Cancel for those
whose role allows campaigns (each pressed action audited), Refresh and Show for everyone
who may read reports. A press redraws the message and keeps it current while it sends."""

from collections.abc import Awaitable, Callable

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.admin import audit
from bot.admin.campaign_commands import CONTROLS, CampaignAction, campaign_view, follow, show
from bot.admin.permissions import AdminUser, Allowed, Permission
from bot.admin.services import AdminServices
from broadcasts.campaigns import get_campaign
from broadcasts.runs import cancel, pause, resume
from core.clock import Clock
from core.errors import SegbotError

Switch = Callable[..., Awaitable[object]]
_SWITCHES: dict[str, tuple[Switch, str]] = {
    "pause": (pause, "Paused."),
    "resume": (resume, "Resumed."),
    "cancel": (cancel, "Cancelled."),
}


async def _control(
    query: CallbackQuery,
    callback_data: CampaignAction,
    admin: AdminUser,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin_services: AdminServices,
    clock: Clock,
    bot: Bot,
) -> None:
    switch, done = _SWITCHES[callback_data.action]
    outcome = "ok"
    try:
        campaign = await get_campaign(session, ref=callback_data.campaign_id)
        await switch(session, campaign=campaign, now=clock())
    except SegbotError as error:
        await session.rollback()
        outcome = done = str(error)
    await audit.record(
        sessionmaker,
        admin_id=admin.user_id,
        action=f"campaign.{callback_data.action}",
        now=clock(),
        target=f"campaign {callback_data.campaign_id}",
        outcome=outcome,
    )
    await query.answer(done[:200])
    await _redraw(
        query, callback_data.campaign_id, admin, session, sessionmaker, admin_services, bot
    )


async def _view(
    query: CallbackQuery,
    callback_data: CampaignAction,
    admin: AdminUser,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin_services: AdminServices,
    bot: Bot,
) -> None:
    await query.answer()
    if callback_data.action == "show" and isinstance(query.message, Message):
        view = await campaign_view(session, campaign_id=callback_data.campaign_id, admin=admin)
        await show(
            query.message,
            view=view,
            campaign_id=callback_data.campaign_id,
            admin=admin,
            services=admin_services,
            sessionmaker=sessionmaker,
            bot=bot,
        )
        return
    await _redraw(
        query, callback_data.campaign_id, admin, session, sessionmaker, admin_services, bot
    )


async def _redraw(
    query: CallbackQuery,
    campaign_id: int,
    admin: AdminUser,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    services: AdminServices,
    bot: Bot,
) -> None:
    """Show the campaign's state in the pressed message, and keep it current if sending."""
    message = query.message
    if not isinstance(message, Message):
        return
    view = await campaign_view(session, campaign_id=campaign_id, admin=admin)
    try:
        await message.edit_text(view.text, reply_markup=view.markup)
    except TelegramBadRequest as error:  # Refresh with nothing new to show
        if "not modified" not in error.message:
            raise
    follow(message, view=view, campaign_id=campaign_id, admin=admin, services=services,
           sessionmaker=sessionmaker, bot=bot)  # fmt: skip


async def _is_control(query: CallbackQuery, callback_data: CampaignAction) -> bool:
    return callback_data.action in CONTROLS


async def _is_view(query: CallbackQuery, callback_data: CampaignAction) -> bool:
    return callback_data.action in ("show", "refresh")


def register_buttons(router: Router) -> None:
    router.callback_query.register(
        _control, CampaignAction.filter(), _is_control, Allowed(Permission.CAMPAIGNS)
    )
    router.callback_query.register(
        _view, CampaignAction.filter(), _is_view, Allowed(Permission.REPORTS)
    )
