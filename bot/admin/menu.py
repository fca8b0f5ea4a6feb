"""Each admin's menu in Telegram: setMyCommands scoped to their chat, listing the
commands their role grants, and the chat's menu button opening the console (a Mini App)
when SEGBOT_PUBLIC_URL is https, the only kind Telegram opens. Set for everyone at
startup, and again whenever `/admins` changes a role (no role: the default menu button).
A chat Telegram does not know yet (an admin who never opened the bot) is logged and
skipped; it gets its menu at the next start."""

import logging
from collections.abc import Collection

from aiogram import Bot
from aiogram.exceptions import ClientDecodeError, TelegramAPIError
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    MenuButtonDefault,
    MenuButtonWebApp,
    WebAppInfo,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.admin.console_command import opens_in_telegram
from bot.admin.registry import Catalog
from bot.console.identity import console_url
from bot.logs import as_said
from core.models import Admin, AdminRole

logger = logging.getLogger(__name__)


def menu_for(catalog: Catalog, role: AdminRole) -> list[BotCommand]:
    return [
        BotCommand(command=command.name, description=command.summary[:256])
        for command in catalog.for_role(role)
    ]


async def publish_menu(
    bot: Bot, catalog: Catalog, *, user_id: int, role: AdminRole | None, public_url: str
) -> None:
    """Set (or with no role, remove) one admin's menu and console button."""
    scope = BotCommandScopeChat(chat_id=user_id)
    console = opens_in_telegram(public_url)
    try:
        if role is None:
            await bot.delete_my_commands(scope=scope)
            if console:
                await bot.set_chat_menu_button(chat_id=user_id, menu_button=MenuButtonDefault())
        else:
            await bot.set_my_commands(menu_for(catalog, role), scope=scope)
            if console:
                button = MenuButtonWebApp(
                    text="Console", web_app=WebAppInfo(url=console_url(public_url))
                )
                await bot.set_chat_menu_button(chat_id=user_id, menu_button=button)
    except (TelegramAPIError, ClientDecodeError) as error:  # the second: not a Bot API answer
        logger.warning(
            "could not set the command menu of admin %s: %s", user_id, as_said(error.message)
        )


async def publish_all(
    bot: Bot,
    catalog: Catalog,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    owners: Collection[int],
    public_url: str,
) -> int:
    """Every admin's menu (owners first); returns how many were set."""
    async with sessionmaker() as session:
        rows = (await session.execute(select(Admin.user_id, Admin.role))).all()
    roles = {user_id: role for user_id, role in rows if user_id not in owners}
    roles |= dict.fromkeys(owners, AdminRole.OWNER)
    for user_id, role in roles.items():
        await publish_menu(bot, catalog, user_id=user_id, role=role, public_url=public_url)
    return len(roles)
