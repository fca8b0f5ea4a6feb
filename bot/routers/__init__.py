"""The bot's routers, one per feature, assembled with their chat-type filters.

Each feature module builds a fresh Router, so every Dispatcher gets its own.
"""

from aiogram import F, Router

from bot.routers import subscription


def get_routers() -> list[Router]:
    private = Router(name="private_chats")
    private.message.filter(F.chat.type == "private")
    private.include_router(subscription.router())
    return [private]
