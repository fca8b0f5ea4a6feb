"""/language, and /forget: the subscriber's right to have their data erased.

A double-pressed button is handled twice; its second edit or deletion changes nothing and
is not an error (`bot.edits`).
"""

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot import edits
from bot.filters import Data
from bot.i18n import LANGUAGE_NAMES, Texts, Translator
from bot.leaving import FORGET, FORGET_ASK, FORGET_NO, FORGET_YES
from core.clock import Clock
from core.erasure import erase_late_rows
from core.events import EventLog
from core.profiles import set_language
from core.subscribers import forget
from crm_sync.matching import unlink_subscriber

LANGUAGE_MENU, LANGUAGE_PREFIX = "lang:menu", "lang:"


async def language_menu(event: Message | CallbackQuery, texts: Texts, t: Translator) -> None:
    buttons = [
        [
            InlineKeyboardButton(
                text=LANGUAGE_NAMES.get(code, code), callback_data=LANGUAGE_PREFIX + code
            )
        ]
        for code in texts.languages
    ]
    message = event if isinstance(event, Message) else event.message
    if isinstance(event, CallbackQuery):
        await event.answer()
    if isinstance(message, Message):
        await message.answer(
            t("Choose your language:"), reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons)
        )


async def choose_language(
    query: CallbackQuery, session: AsyncSession, texts: Texts, clock: Clock
) -> None:
    code = (query.data or "").removeprefix(LANGUAGE_PREFIX)
    if code not in texts.languages:
        await query.answer()
        return
    await set_language(session, telegram_id=query.from_user.id, language=code, now=clock())
    t = texts.for_language(code)
    await query.answer(t("Language saved."))
    if isinstance(query.message, Message):
        await edits.edit_text(query.message, t("Language saved."))


async def ask_to_forget(event: Message | CallbackQuery, t: Translator) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=t("Yes, erase my data"), callback_data=FORGET_YES),
                InlineKeyboardButton(text=t("No, keep it"), callback_data=FORGET_NO),
            ]
        ]
    )
    text = t("This erases your name, phone, email and answers, and unsubscribes you. Are you sure?")
    if isinstance(event, CallbackQuery):
        await event.answer()
        if isinstance(event.message, Message):
            await event.message.answer(text, reply_markup=markup)
    else:
        await event.answer(text, reply_markup=markup)


async def confirm_forget(
    query: CallbackQuery, session: AsyncSession, clock: Clock, event_log: EventLog, t: Translator
) -> None:
    telegram_id = query.from_user.id
    subscriber_id = await forget(session, telegram_id=telegram_id, now=clock())
    if subscriber_id is not None:
        await unlink_subscriber(session, subscriber_id=subscriber_id)
        await session.commit()
    event_log.forget_subscriber(telegram_id)
    # Once more: what a process that had looked them up wrote as the erasure committed.
    await erase_late_rows(session, [] if subscriber_id is None else [subscriber_id])
    await session.commit()
    await query.answer()
    if isinstance(query.message, Message):
        await edits.edit_text(
            query.message,
            t(
                "Done: your data is erased and you will get no more messages. "
                "Send /start if you ever want to come back."
            ),
        )


async def keep(query: CallbackQuery, t: Translator) -> None:
    await query.answer(t("Nothing was changed."))
    if isinstance(query.message, Message):
        await edits.delete(query.message)


def register(router: Router) -> None:
    """Adds this feature's handlers to `router` (the private-chat router)."""
    router.message.register(language_menu, Command("language"))
    router.callback_query.register(language_menu, Data(exactly=LANGUAGE_MENU))
    router.callback_query.register(choose_language, Data(prefix=LANGUAGE_PREFIX))
    router.message.register(ask_to_forget, Command(FORGET))
    router.callback_query.register(ask_to_forget, Data(exactly=FORGET_ASK))
    router.callback_query.register(confirm_forget, Data(exactly=FORGET_YES))
    router.callback_query.register(keep, Data(exactly=FORGET_NO))
