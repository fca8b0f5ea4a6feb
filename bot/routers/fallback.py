"""The last router: whatever no feature handled. Nothing here raises; everything was
already logged by the event log middleware."""

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.filters import looks_like_command
from bot.i18n import Translator


async def help_command(message: Message, t: Translator) -> None:
    await message.answer(
        t(
            "/start — subscribe\n"
            "/profile — your answers, phone and email\n"
            "/language — change the language\n"
            "/email you@example.com — add your email\n"
            "/stop — unsubscribe\n"
            "/forget — erase your data"
        )
    )


async def unknown_command(message: Message, t: Translator) -> None:
    await message.answer(t("I don't know that command. Send /help to see what I can do."))


async def stale_button(query: CallbackQuery, t: Translator) -> None:
    """Buttons from old messages, or callback data nobody issued."""
    await query.answer(t("This button is no longer active."))


def register(router: Router) -> None:
    """Adds this feature's handlers to `router` (the private-chat router)."""
    router.message.register(help_command, Command("help"))
    router.message.register(unknown_command, looks_like_command)
    router.callback_query.register(stale_button)
    # Text replies, stickers, media, contacts of others, forwards: logged, no answer needed.
