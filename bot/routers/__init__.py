"""The bot's routers. Each feature module registers its handlers, in order, on one
private-chat router that carries the private-chat filter, the DB session and the language
middleware for all of them.

One router rather than one per feature: every router an update passes through costs
aiogram a middleware-chain rebuild, and most updates (replies, reactions, stickers) pass
through all of them to be handled by nobody (see benchmarks/ingest.py).
"""

from aiogram import Router
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import admin
from bot.filters import PrivateChat
from bot.i18n import Texts
from bot.middlewares import DbSessionMiddleware, LanguageMiddleware
from bot.routers import contact, fallback, privacy, quiz, subscription


def get_routers(*, texts: Texts, sessionmaker: async_sessionmaker[AsyncSession]) -> list[Router]:
    private = Router(name="private_chats")
    for observer in (private.message, private.callback_query, private.my_chat_member):
        observer.filter(PrivateChat())
        # Inner: only updates a handler takes open a session (most updates need none).
        observer.middleware(DbSessionMiddleware(sessionmaker))
    for observer in (private.message, private.callback_query):
        observer.middleware(LanguageMiddleware(texts))
    # admin: before the fallback, which answers whatever an admin's role does not allow
    for feature in (subscription, quiz, contact, privacy, admin, fallback):  # fallback: last
        feature.register(private)
    return [private]
