"""The composition root: settings -> engine -> sessionmaker -> Dispatcher -> routers.

`run()` is what `segbot run` does: one asyncio process with the roles it is given — the
bot (long polling, or the webhook inbox), the broadcast sender, the scheduler (while it
leads) and, always, the web server — all closed in `finally` however the process stops.
`--role all` (the default) is all of them, the only choice on SQLite; on PostgreSQL each
role can run in processes of its own (docs/deployment.md).
"""

import asyncio
import logging
import signal
from collections.abc import Coroutine
from contextlib import suppress
from datetime import UTC
from functools import partial
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import migrations
from bot.admin import install as install_console
from bot.admin.services import AdminServices
from bot.admin.storage import fsm_storage
from bot.behaviour import Behaviour, load_behaviour
from bot.errors import on_error
from bot.flood import RedisBuckets
from bot.i18n import Texts
from bot.messenger import TelegramMessenger
from bot.middlewares import EventLogMiddleware, ThrottleMiddleware
from bot.process_roles import Role
from bot.retry import RetryAfterMiddleware
from bot.routers import get_routers
from bot.web_server import create_web_app, start_web_server
from bot.webhook import WEBHOOK_PATH, InboxProcessor, receiver, webhook_secret
from broadcasts.config import BroadcastsConfig, load_broadcasts_config
from broadcasts.pacing import RateBudget
from broadcasts.reports import load_reports_config
from broadcasts.scheduler import CampaignScheduler
from broadcasts.sender import Sender, SenderSettings
from broadcasts.shared_pacing import RedisSlots
from broadcasts.worker import DeliveryWorker
from core.clock import Clock, utcnow
from core.config import load_config_file
from core.db import create_engine, create_sessionmaker
from core.errors import ConfigError
from core.events import EventLog
from core.leader import SCHEDULER_LOCK, lead
from core.settings import Settings
from crm_sync.config import CrmConfig, load_crm_config
from crm_sync.jobs import schedule_syncs
from segments.ai.config import load_ai_config
from segments.config import SegmentsConfig, load_segments_config
from segments.jobs import after_crm_sync, schedule_refresh

logger = logging.getLogger(__name__)
POLLING_LOCK = SCHEDULER_LOCK + 1  # Telegram serves getUpdates to one poller at a time


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
    admin_services: AdminServices | None = None,
    redis: Redis | None = None,
) -> Dispatcher:
    """The Dispatcher with its workflow data, middlewares and routers.

    Outer middlewares (every update), in order: the anti-flood throttle (its buckets in
    Redis when given, so every bot process counts alike; owners exempt), the event log.
    Handlers get their DB session and translator from the routers' inner middlewares.
    """
    texts = Texts()
    behaviour = behaviour or load_behaviour({})
    dispatcher = Dispatcher(
        storage=fsm_storage(settings),
        settings=settings,
        sessionmaker=sessionmaker,
        clock=clock,
        secret_key=_secret(settings),
        behaviour=behaviour,
        texts=texts,
        event_log=event_log,
    )
    buckets = None if redis is None else RedisBuckets(redis)
    dispatcher.update.outer_middleware(ThrottleMiddleware(buckets, exempt=settings.admin_ids))
    dispatcher.update.outer_middleware(
        EventLogMiddleware(event_log, clock=clock, store_text=behaviour.tracking.store_message_text)
    )
    dispatcher.errors.register(on_error)
    dispatcher.include_routers(*get_routers(texts=texts, sessionmaker=sessionmaker))
    install_console(dispatcher, admin_services or AdminServices())
    return dispatcher


def _secret(settings: Settings) -> str:
    if settings.secret_key is None:
        raise ConfigError("SEGBOT_SECRET_KEY must be set to run the bot")
    return settings.secret_key.get_secret_value()


async def _poll(dispatcher: Dispatcher, bot: Bot) -> None:
    """Long-poll until cancelled, then stop polling gracefully (aiogram leaves its polling
    tasks running if merely cancelled)."""
    await bot.delete_webhook(drop_pending_updates=False)  # polling and a webhook exclude
    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            handle_signals=False,
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


def _delivery_worker(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    messenger: TelegramMessenger,
    config: BroadcastsConfig,
    *,
    redis: Redis | None,
    clock: Clock,
) -> DeliveryWorker:
    """The broadcast sender at SEGBOT_RATE_LIMIT (and the paid rate, when enabled): the
    whole bot's rate, shared through Redis by every sender process when it is configured."""
    paid = config.paid_broadcasts
    budget = RateBudget(
        settings.rate_limit,
        paid_per_second=paid.per_second if paid.enabled else None,
        slots=None if redis is None else RedisSlots(redis),
    )
    sender_settings = SenderSettings(
        public_url=settings.public_url, secret=_secret(settings), paid_broadcasts=paid.enabled
    )
    sender = Sender(sessionmaker, messenger, budget, sender_settings, clock=clock)
    return DeliveryWorker(sender, sessionmaker, clock=clock)


async def run(
    settings: Settings,
    *,
    role: Role = Role.ALL,
    webhook: bool = False,
    handle_signals: bool = True,
    clock: Clock = utcnow,
) -> None:
    """Run `role` until SIGINT/SIGTERM (or cancellation), then close everything."""
    settings.require_for_run()
    if settings.is_sqlite and role is not Role.ALL:
        raise ConfigError(
            f"--role {role} needs PostgreSQL: SQLite is the one-process default "
            "(run `segbot run` without --role, or set SEGBOT_DATABASE_URL to PostgreSQL)"
        )
    roles = set(Role) - {Role.ALL} if role is Role.ALL else {role}
    sections = load_config_file(settings.config_path)
    behaviour = load_behaviour(sections)
    crm, segments = load_crm_config(sections), load_segments_config(sections)
    broadcasts = load_broadcasts_config(sections)
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    redis = None if settings.redis_url is None else _redis(settings.redis_url)
    bot = build_bot(settings)
    scheduler = AsyncIOScheduler(timezone=UTC)
    sessionmaker = create_sessionmaker(engine)
    event_log = EventLog(sessionmaker, clock=clock)
    messenger = TelegramMessenger.from_settings(settings)
    worker = _delivery_worker(
        settings, sessionmaker, messenger, broadcasts, redis=redis, clock=clock
    )
    campaigns = CampaignScheduler(
        sessionmaker,
        scheduler,
        on_run_started=worker.wake,
        clock=clock,
        rfm_segments=segments.rfm.segment_map().names,
        best_hour=broadcasts.best_hour,
        sync_seconds=broadcasts.schedule_sync_seconds,
    )
    parts: list[Coroutine[Any, Any, None]] = []
    web_runner = None
    try:
        await migrations.make_ready(engine, upgrade_in_place=settings.is_sqlite)
        web_app = create_web_app(
            sessionmaker=sessionmaker, secret=_secret(settings), clock=clock, redis=redis
        )
        if Role.BOT in roles:
            dispatcher = build_dispatcher(
                settings=settings,
                sessionmaker=sessionmaker,
                event_log=event_log,
                behaviour=behaviour,
                clock=clock,
                admin_services=AdminServices(
                    crm=crm,
                    segments=segments,
                    reports=load_reports_config(sections),
                    ai=load_ai_config(sections),
                    campaigns=campaigns,
                    on_synced=after_crm_sync(sessionmaker, config=segments, clock=clock),
                ),
                redis=redis,
            )
            event_log.start()
            if webhook:
                inbox = InboxProcessor(
                    sessionmaker, partial(dispatcher.feed_raw_update, bot), clock=clock
                )
                web_app.router.add_post(
                    WEBHOOK_PATH,
                    receiver(
                        sessionmaker,
                        secret=webhook_secret(_secret(settings)),
                        clock=clock,
                        stored=inbox.stored,
                    ),
                )
                parts.append(_serve_webhook(bot, settings, inbox))
            else:
                parts.append(lead(engine, partial(_poll, dispatcher, bot), key=POLLING_LOCK))
        if Role.SENDER in roles:
            parts.append(worker.keep_running())
        if Role.SCHEDULER in roles:
            lead_the_schedule = partial(
                _keep_schedule, scheduler, campaigns, sessionmaker, crm, segments, clock
            )
            parts.append(lead(engine, lead_the_schedule))
        web_runner = await start_web_server(web_app, host=settings.web_host, port=settings.web_port)
        logger.info("segbot running: %s", ", ".join(sorted(roles)))
        await _until_stopped(parts, handle_signals=handle_signals)
    finally:
        for part in parts:
            part.close()  # those never started (a failure before they were)
        if scheduler.running:
            scheduler.shutdown(wait=False)
        if web_runner is not None:
            await web_runner.cleanup()
        await event_log.close()
        await bot.session.close()
        await messenger.close()
        if redis is not None:
            await redis.aclose()
        await engine.dispose()
        logger.info("segbot stopped")


def _redis(url: str) -> Redis:
    """A client whose pool waits for a free connection rather than failing: a sender takes
    a batch's slots at once, each a script call."""
    return Redis(connection_pool=BlockingConnectionPool.from_url(url, max_connections=32))


async def _keep_schedule(
    scheduler: AsyncIOScheduler,
    campaigns: CampaignScheduler,
    sessionmaker: async_sessionmaker[AsyncSession],
    crm: CrmConfig,
    segments: SegmentsConfig,
    clock: Clock,
) -> None:
    """The scheduler role while this process leads: jobs run until leadership ends."""
    _schedule_jobs(scheduler, sessionmaker, crm=crm, segments=segments, clock=clock)
    scheduler.start()
    try:
        await campaigns.start()
        await asyncio.Event().wait()
    finally:
        scheduler.shutdown(wait=False)


async def _serve_webhook(bot: Bot, settings: Settings, inbox: InboxProcessor) -> None:
    """Point Telegram at this deployment's webhook, then handle what it stores."""
    await bot.set_webhook(
        url=settings.public_url + WEBHOOK_PATH,
        secret_token=webhook_secret(_secret(settings)),
        allowed_updates=list(ALLOWED_UPDATES),
        drop_pending_updates=False,
    )
    await inbox.run()


async def _until_stopped(parts: list[Coroutine[Any, Any, None]], *, handle_signals: bool) -> None:
    """Run the parts until SIGINT/SIGTERM, cancellation, or one of them failing (raised)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
    for number in signals:
        loop.add_signal_handler(number, stop.set)
    tasks = [asyncio.ensure_future(part) for part in parts]
    stopping = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
        for task in done - {stopping}:
            task.result()
    finally:
        for task in [*tasks, stopping]:
            task.cancel()
        await asyncio.gather(*tasks, stopping, return_exceptions=True)
        for number in signals:
            loop.remove_signal_handler(number)
