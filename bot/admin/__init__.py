"""The admin console: operators and marketers run segbot from the chat with the bot.

`register(router)` adds the console's handlers to the private-chat router, before the
subscriber fallback: every admin command goes through one handler behind the role check
(bot.admin.registry), the wizard's steps (routed by state in bot.admin.wizard_routing)
and the campaign buttons behind their own. Each receives one `AdminContext` (`ctx`,
bot.admin.context), built by the middleware `register` adds. Anyone whose role does not
allow a command falls through to the subscriber handlers, so a non-admin gets the
ordinary reply and learns nothing. `install(dispatcher, services)` hands the console its
services, sets each admin's command menu when polling starts and stops the live progress
messages when it ends.
"""

from aiogram import Bot, Dispatcher, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.admin import (
    admins,
    ai_commands,
    audit,
    campaign_buttons,
    campaign_commands,
    console_command,
    journey_commands,
    persona_commands,
    report_commands,
    segment_commands,
    subscriber_commands,
    wizard,
    wizard_routing,
)
from bot.admin.context import AdminContext, AdminContextMiddleware
from bot.admin.menu import publish_all
from bot.admin.registry import AdminCommand, Call, Catalog, CommandAllowed, reply_for
from bot.admin.services import AdminServices
from bot.admin.unknown_names import with_names
from core.errors import SegbotError
from core.settings import Settings

# /help lists the commands in this order (and each admin's command menu shows them so).
# fmt: off
HELP_ORDER = (
    "help", "console",
    "stats", "report",
    "segments", "segment", "segment_save", "segment_delete", "rfm", "ladder", "export",
    "ai_segments", "lookalike",
    "personas", "persona", "persona_from", "persona_create", "persona_delete",
    "campaigns", "campaign", "broadcast", "cancel",
    "journeys", "journey",
    "find", "tag", "untag", "sync",
    "admins", "audit",
)
# fmt: on
CATALOG = Catalog(
    HELP_ORDER,
    (
        *admins.COMMANDS,
        *report_commands.COMMANDS,
        *segment_commands.COMMANDS,
        *ai_commands.COMMANDS,
        *persona_commands.COMMANDS,
        *campaign_commands.COMMANDS,
        *wizard.COMMANDS,
        *journey_commands.COMMANDS,
        *subscriber_commands.COMMANDS,
        *console_command.COMMANDS,
    ),
)


async def run_command(
    message: Message, command: CommandObject, entry: AdminCommand, ctx: AdminContext
) -> None:
    """Every admin command: run it; an expected error is the reply (a name nothing has with
    the names there are: bot.admin.unknown_names); audit it either way."""
    call = Call(message, entry, CATALOG, (command.args or "").strip(), ctx)
    outcome = "failed"
    try:
        await entry.run(call)
        outcome = "ok"
    except SegbotError as error:
        outcome = f"refused: {error}"
        await ctx.session.rollback()
        await message.answer(reply_for(await with_names(error, ctx.session)))
    finally:
        await audit.record(
            ctx.sessionmaker,
            admin_id=ctx.admin.user_id,
            action=entry.name,
            now=ctx.clock(),
            args=call.args,
            outcome=outcome,
        )


def register(router: Router) -> None:
    """Adds the console's handlers to `router` (the private-chat router, whose DB session
    middleware is registered already), and the middleware that hands them `ctx`."""
    context = AdminContextMiddleware()
    router.message.middleware(context)
    router.callback_query.middleware(context)
    router.message.register(run_command, Command(*CATALOG.by_name), CommandAllowed(CATALOG))
    wizard_routing.register_steps(router)
    campaign_buttons.register_buttons(router)
    journey_commands.register_buttons(router)


def install(dispatcher: Dispatcher, services: AdminServices) -> None:
    dispatcher["admin_services"] = services

    async def publish_menus(
        bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
    ) -> None:
        await publish_all(
            bot,
            CATALOG,
            sessionmaker=sessionmaker,
            owners=settings.admin_ids,
            public_url=settings.public_url,
        )

    dispatcher.startup.register(publish_menus)
    dispatcher.shutdown.register(services.live.close)
