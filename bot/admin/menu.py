"""Each admin's command menu in Telegram: setMyCommands scoped to their chat, listing
the commands their role grants. Set for everyone at startup, and again whenever
`/admins` changes a role. A chat Telegram does not know yet (an admin who never opened
the bot) is logged and skipped; it gets its menu at the next start."""

import logging
from collections.abc import Collection

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.admin.registry import Catalog
from core.models import Admin, AdminRole

logger = logging.getLogger(__name__)


def menu_for(catalog: Catalog, role: AdminRole) -> list[BotCommand]:
    return [
        BotCommand(command=command.name, description=command.summary[:256])
        for command in catalog.for_role(role)
    ]


async def publish_menu(bot: Bot, catalog: Catalog, *, user_id: int, role: AdminRole | None) -> None:
    """Set (or with no role, remove) one admin's menu."""
    scope = BotCommandScopeChat(chat_id=user_id)
    try:
        if role is None:
            await bot.delete_my_commands(scope=scope)
        else:
            await bot.set_my_commands(menu_for(catalog, role), scope=scope)
    except TelegramAPIError as error:
        logger.warning("could not set the command menu of admin %s: %s", user_id, error.message)


async def publish_all(
    bot: Bot,
    catalog: Catalog,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    owners: Collection[int],
) -> int:
    """Every admin's menu (owners first); returns how many were set."""
    async with sessionmaker() as session:
        rows = (await session.execute(select(Admin.user_id, Admin.role))).all()
    roles = {user_id: role for user_id, role in rows if user_id not in owners}
    roles |= dict.fromkeys(owners, AdminRole.OWNER)
    for user_id, role in roles.items():
        await publish_menu(bot, catalog, user_id=user_id, role=role)
    return len(roles)
