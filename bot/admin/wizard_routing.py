"""Routing the broadcast wizard's updates: a typed message goes to the handler of the
step its state names, a button press to the handler of (state, action); anything that
does not fit the step is told what the step expects. Each is behind the role check."""

from aiogram import Bot, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.admin.draft import Draft
from bot.admin.permissions import AdminUser, Allowed, Permission
from bot.admin.registry import reply_for
from bot.admin.services import AdminServices
from bot.admin.wizard import PRESSES, TYPED, go_back
from bot.admin.wizard_steps import Broadcast, Step, WizardButton
from core.clock import Clock
from core.errors import SegbotError
from core.settings import Settings


async def _step(
    chat: Message,
    state: FSMContext,
    admin: AdminUser,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin_services: AdminServices,
    settings: Settings,
    clock: Clock,
    bot: Bot,
) -> Step:
    draft = Draft.model_validate((await state.get_data()).get("draft", {}))
    return Step(
        chat, state, draft, session, sessionmaker, admin_services, settings, clock, admin, bot
    )


async def on_typed(
    message: Message,
    state: FSMContext,
    raw_state: str | None,
    admin: AdminUser,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin_services: AdminServices,
    settings: Settings,
    clock: Clock,
    bot: Bot,
) -> None:
    handler = TYPED.get(raw_state or "")
    if handler is None:
        await message.answer("Tap one of the buttons above, or /cancel to leave the wizard.")
        return
    step = await _step(
        message, state, admin, session, sessionmaker, admin_services, settings, clock, bot
    )
    try:
        await handler(step, message)
    except SegbotError as error:
        await session.rollback()
        await message.answer(reply_for(error))


async def on_press(
    query: CallbackQuery,
    callback_data: WizardButton,
    state: FSMContext,
    raw_state: str | None,
    admin: AdminUser,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin_services: AdminServices,
    settings: Settings,
    clock: Clock,
    bot: Bot,
) -> None:
    press = PRESSES.get((raw_state or "", callback_data.action))
    back = callback_data.action == "back"
    if not isinstance(query.message, Message) or (press is None and not back):
        await query.answer("That button belongs to an earlier step.")
        return
    await query.answer()
    step = await _step(
        query.message, state, admin, session, sessionmaker, admin_services, settings, clock, bot
    )
    try:
        if press is None:
            await go_back(step, raw_state)
        else:
            await press(step, callback_data.value)
    except (SegbotError, IndexError) as error:
        await session.rollback()
        text = (
            reply_for(error)
            if isinstance(error, SegbotError)
            else "That choice is gone; try again."
        )
        await query.message.answer(text)


async def _stale_press(query: CallbackQuery) -> None:
    await query.answer("This wizard has ended: /broadcast starts a new one.")


def register_steps(router: Router) -> None:
    allowed = Allowed(Permission.CAMPAIGNS)
    router.message.register(on_typed, StateFilter(Broadcast), allowed)
    router.callback_query.register(on_press, WizardButton.filter(), StateFilter(Broadcast), allowed)
    router.callback_query.register(_stale_press, WizardButton.filter(), allowed)
