"""The composition root: settings -> engine -> sessionmaker -> Dispatcher -> routers.

`run()` is what `segbot run` does: one asyncio process with the bot (long polling), the
web server and the scheduler, all closed in `finally` however the process stops.
"""

import logging
from datetime import UTC

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import migrations
from bot.errors import on_error
from bot.middlewares import DbSessionMiddleware
from bot.routers import get_routers
from bot.web import create_web_app, start_web_server
from core.clock import Clock, utcnow
from core.db import create_engine, create_sessionmaker
from core.errors import ConfigError
from core.settings import Settings

logger = logging.getLogger(__name__)


def build_bot(settings: Settings) -> Bot:
    """An aiogram Bot talking to `SEGBOT_TELEGRAM_API_BASE` (Telegram, or the emulator)."""
    if settings.bot_token is None:
        raise ConfigError("SEGBOT_BOT_TOKEN must be set to run the bot")
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    return Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


def build_dispatcher(
    *, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock = utcnow
) -> Dispatcher:
    """The Dispatcher with its workflow data (settings, sessionmaker, clock...) and routers."""
    if settings.secret_key is None:
        raise ConfigError("SEGBOT_SECRET_KEY must be set to run the bot")
    dispatcher = Dispatcher(
        settings=settings,
        sessionmaker=sessionmaker,
        clock=clock,
        secret_key=settings.secret_key.get_secret_value(),
    )
    dispatcher.update.outer_middleware(DbSessionMiddleware(sessionmaker))
    dispatcher.errors.register(on_error)
    dispatcher.include_routers(*get_routers())
    return dispatcher


async def prepare_database(settings: Settings, engine: AsyncEngine) -> None:
    """Migrate SQLite in place (the one-process default); insist PostgreSQL is migrated."""
    if settings.is_sqlite:
        await migrations.upgrade(engine)
        return
    current, head = await migrations.current_revision(engine), migrations.head_revision()
    if current != head:
        raise ConfigError(
            f"the database schema is at revision {current or 'none'}, this segbot needs "
            f"{head}: run `segbot db upgrade` first"
        )


async def run(settings: Settings, *, handle_signals: bool = True, clock: Clock = utcnow) -> None:
    """Run the bot until SIGINT/SIGTERM (or cancellation), then close everything."""
    settings.require_for_run()
    engine = create_engine(settings.database_url)
    bot = build_bot(settings)
    scheduler = AsyncIOScheduler(timezone=UTC)
    web_runner = None
    try:
        await prepare_database(settings, engine)
        dispatcher = build_dispatcher(
            settings=settings, sessionmaker=create_sessionmaker(engine), clock=clock
        )
        web_runner = await start_web_server(
            create_web_app(), host=settings.web_host, port=settings.web_port
        )
        scheduler.start()
        await bot.delete_webhook(drop_pending_updates=False)  # polling and a webhook exclude
        await dispatcher.start_polling(
            bot,
            handle_signals=handle_signals,
            close_bot_session=False,
            allowed_updates=dispatcher.resolve_used_update_types(),
        )
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
        if web_runner is not None:
            await web_runner.cleanup()
        await bot.session.close()
        await engine.dispose()
        logger.info("segbot stopped")
