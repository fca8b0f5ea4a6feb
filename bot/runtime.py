"""The composition root: settings -> engine -> sessionmaker -> Dispatcher -> routers.

`run()` is what `segbot run` does: one asyncio process with the bot (long polling), the
web server and the scheduler, all closed in `finally` however the process stops.
"""

import asyncio
import logging
from contextlib import suppress
from datetime import UTC

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import migrations
from bot.behaviour import Behaviour, load_behaviour
from bot.errors import on_error
from bot.i18n import Texts
from bot.messenger import TelegramMessenger, build_broadcast_bot
from bot.middlewares import EventLogMiddleware, ThrottleMiddleware
from bot.retry import RetryAfterMiddleware
from bot.routers import get_routers
from bot.web import create_web_app, start_web_server
from broadcasts.pacing import RateBudget
from broadcasts.scheduler import CampaignScheduler
from broadcasts.sender import Sender, SenderSettings
from broadcasts.worker import DeliveryWorker
from core.clock import Clock, utcnow
from core.config import load_config_file
from core.db import create_engine, create_sessionmaker
from core.errors import ConfigError
from core.events import EventLog
from core.settings import Settings
from crm_sync.config import CrmConfig, load_crm_config
from crm_sync.jobs import schedule_syncs
from segments.config import SegmentsConfig, load_segments_config
from segments.jobs import after_crm_sync, schedule_refresh

logger = logging.getLogger(__name__)


def build_bot(settings: Settings) -> Bot:
    """An aiogram Bot talking to `SEGBOT_TELEGRAM_API_BASE` (Telegram, or the emulator)."""
    if settings.bot_token is None:
        raise ConfigError("SEGBOT_BOT_TOKEN must be set to run the bot")
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    session.middleware(RetryAfterMiddleware())
    return Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


# Telegram sends only what is asked for: reactions and edits must be named explicitly.
ALLOWED_UPDATES = (
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
    "message_reaction",
)


def build_dispatcher(
    *,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    event_log: EventLog,
    behaviour: Behaviour | None = None,
    clock: Clock = utcnow,
) -> Dispatcher:
    """The Dispatcher with its workflow data, middlewares and routers.

    Outer middlewares (every update), in order: the anti-flood throttle, the event log.
    Handlers get their DB session and translator from the routers' inner middlewares.
    """
    texts = Texts()
    behaviour = behaviour or load_behaviour({})
    dispatcher = Dispatcher(
        settings=settings,
        sessionmaker=sessionmaker,
        clock=clock,
        secret_key=_secret(settings),
        behaviour=behaviour,
        texts=texts,
        event_log=event_log,
    )
    dispatcher.update.outer_middleware(ThrottleMiddleware())
    dispatcher.update.outer_middleware(
        EventLogMiddleware(event_log, clock=clock, store_text=behaviour.tracking.store_message_text)
    )
    dispatcher.errors.register(on_error)
    dispatcher.include_routers(*get_routers(texts=texts, sessionmaker=sessionmaker))
    return dispatcher


def _secret(settings: Settings) -> str:
    if settings.secret_key is None:
        raise ConfigError("SEGBOT_SECRET_KEY must be set to run the bot")
    return settings.secret_key.get_secret_value()


async def _poll(dispatcher: Dispatcher, bot: Bot, *, handle_signals: bool) -> None:
    """Long-poll until a signal, or until this coroutine is cancelled: either way polling
    stops gracefully (aiogram leaves its polling tasks running if merely cancelled)."""
    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            handle_signals=handle_signals,
            close_bot_session=False,
            allowed_updates=list(ALLOWED_UPDATES),
        )
    )
    try:
        await asyncio.shield(polling)
    except asyncio.CancelledError:
        with suppress(RuntimeError):  # "Polling is not started": nothing to stop yet
            await dispatcher.stop_polling()
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        raise


def _schedule_jobs(
    scheduler: AsyncIOScheduler,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    crm: CrmConfig,
    segments: SegmentsConfig,
    clock: Clock,
) -> None:
    """CRM syncs (each followed by an RFM and ladder rescore) and the segments refresh."""
    rescore = after_crm_sync(sessionmaker, config=segments, clock=clock)
    schedule_syncs(scheduler, sessionmaker=sessionmaker, config=crm, on_synced=rescore, clock=clock)
    schedule_refresh(scheduler, sessionmaker=sessionmaker, config=segments, clock=clock)


async def run(settings: Settings, *, handle_signals: bool = True, clock: Clock = utcnow) -> None:
    """Run the bot until SIGINT/SIGTERM (or cancellation), then close everything."""
    settings.require_for_run()
    sections = load_config_file(settings.config_path)
    behaviour = load_behaviour(sections)
    crm, segments = load_crm_config(sections), load_segments_config(sections)
    engine = create_engine(settings.database_url)
    bot = build_bot(settings)
    scheduler = AsyncIOScheduler(timezone=UTC)
    sessionmaker = create_sessionmaker(engine)
    event_log = EventLog(sessionmaker, clock=clock)
    broadcast_bot = build_broadcast_bot(settings)
    sender = Sender(
        sessionmaker,
        TelegramMessenger(broadcast_bot),
        RateBudget(settings.rate_limit),
        SenderSettings(public_url=settings.public_url, secret=_secret(settings)),
        clock=clock,
    )
    worker = DeliveryWorker(sender, sessionmaker)
    campaigns = CampaignScheduler(sessionmaker, scheduler, on_run_started=worker.wake, clock=clock)
    delivering: asyncio.Task[None] | None = None
    web_runner = None
    try:
        await migrations.make_ready(engine, upgrade_in_place=settings.is_sqlite)
        dispatcher = build_dispatcher(
            settings=settings,
            sessionmaker=sessionmaker,
            event_log=event_log,
            behaviour=behaviour,
            clock=clock,
        )
        event_log.start()
        web_app = create_web_app(sessionmaker=sessionmaker, secret=_secret(settings), clock=clock)
        web_runner = await start_web_server(web_app, host=settings.web_host, port=settings.web_port)
        _schedule_jobs(scheduler, sessionmaker, crm=crm, segments=segments, clock=clock)
        scheduler.start()
        delivering = asyncio.create_task(worker.run())
        await campaigns.start()
        await bot.delete_webhook(drop_pending_updates=False)  # polling and a webhook exclude
        await _poll(dispatcher, bot, handle_signals=handle_signals)
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
        if delivering is not None:
            delivering.cancel()
            await asyncio.gather(delivering, return_exceptions=True)
        if web_runner is not None:
            await web_runner.cleanup()
        await event_log.close()
        await bot.session.close()
        await broadcast_bot.session.close()
        await engine.dispose()
        logger.info("segbot stopped")
