"""The composition root: what `segbot run` does, as a list of parts.

`run()` first builds the process (`_build`): settings and segbot.yaml -> engine ->
sessionmaker -> Redis -> the Bot client -> event log (telling the segment-membership
follower and the journey runner) -> messenger -> the broadcast sender -> the campaign
scheduler -> the web app -> the journey runner, each closed on one exit stack however the
process stops. Then it picks the parts its `--role` asks for and runs them together:

| part | role | what it runs |
|---|---|---|
| `_bot_part` | bot | long polling (`bot.polling`, one poller at a time), or the webhook inbox |
| `_sender_part` | sender | the delivery worker at SEGBOT_RATE_LIMIT |
| `_scheduler_part` | scheduler | campaigns, journeys, CRM syncs, segment refreshes (one leader) |
| the web server | always | tracked links, /healthz, /readyz, /metrics, webhook, the console |

`--role all` (the default) is all of them, the only choice on SQLite; on PostgreSQL each
role can run in processes of its own (docs/deployment.md).
"""

import asyncio
import gc
import logging
import signal
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC
from functools import partial
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.dispatcher.dispatcher import DEFAULT_BACKOFF_CONFIG
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.utils.backoff import Backoff
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import migrations
from bot import polling
from bot.admin.services import AdminServices
from bot.config import AppConfig, load_app_config
from bot.console.app import create_console_app
from bot.console.context import ConsoleServices
from bot.dispatcher import ALLOWED_UPDATES, build_bot, build_dispatcher, secret_key
from bot.logs import as_said
from bot.messenger import TelegramMessenger
from bot.process_roles import Role
from bot.redis_outage import TIMEOUTS as REDIS_TIMEOUTS
from bot.retry import wait_before_retry
from bot.web_server import create_web_app, start_web_server
from bot.webhook import WEBHOOK_PATH, InboxProcessor, receiver, webhook_secret
from broadcasts.pacing import RateBudget
from broadcasts.scheduler import CampaignScheduler
from broadcasts.sender import Sender, SenderSettings
from broadcasts.shared_pacing import RedisSlots
from broadcasts.worker import DeliveryWorker
from core.clock import Clock, utcnow
from core.db import create_engine, create_sessionmaker
from core.errors import ConfigError
from core.events import EventLog
from core.leader import SCHEDULER_LOCK, lead
from core.settings import Settings
from crm_sync.jobs import schedule_syncs
from crm_sync.worker import SyncedHook
from journeys.notices import Notifier
from journeys.runner import JourneyRunner
from segments.follower import MembershipFollower
from segments.jobs import after_crm_sync, schedule_refresh

logger = logging.getLogger(__name__)
POLLING_LOCK = SCHEDULER_LOCK + 1  # Telegram serves getUpdates to one poller at a time

Part = Callable[[], Coroutine[Any, Any, None]]


async def run(
    settings: Settings,
    *,
    config: AppConfig | None = None,
    role: Role = Role.ALL,
    webhook: bool = False,
    handle_signals: bool = True,
    clock: Clock = utcnow,
) -> None:
    """Run `role` until SIGINT/SIGTERM (or cancellation), then close everything."""
    settings.require_for_run()
    roles = _roles(settings, role)
    config = config or load_app_config(settings.config_path)
    try:
        async with AsyncExitStack() as stack:
            process = _build(settings, config, clock=clock, stack=stack, alone=role is Role.ALL)
            await migrations.make_ready(process.engine, upgrade_in_place=settings.is_sqlite)
            process.follower.start()  # every role: any process's web server logs clicks
            parts: list[Part] = []
            if Role.BOT in roles:
                parts.append(_bot_part(process, webhook=webhook))
            if Role.SENDER in roles:
                parts.append(_sender_part(process))
            if Role.SCHEDULER in roles:
                parts.append(_scheduler_part(process))
            runner = await start_web_server(
                process.web_app, host=settings.web_host, port=settings.web_port
            )
            stack.push_async_callback(runner.cleanup)
            logger.info("segbot running: %s", ", ".join(sorted(roles)))
            await _until_stopped(parts, handle_signals=handle_signals)
    finally:
        logger.info("segbot stopped")


def freeze_startup_heap() -> None:
    """Take what the process holds before it starts running (modules, models, settings:
    some 300,000 objects) out of the garbage collector's full collections, which under
    load come every few seconds and would walk all of it each time, 0.2-0.4 s apiece.
    What is frozen lives as long as the process anyway; what dies later is still freed by
    its reference count. `segbot run` calls this once everything is imported. In
    benchmarks/broadcast.py it took the sender's CPU per message from 1.9x-2.2x to
    1.3x-1.6x of a bare aiohttp loop's."""
    gc.collect()
    gc.freeze()


def _roles(settings: Settings, role: Role) -> set[Role]:
    if settings.is_sqlite and role is not Role.ALL:
        raise ConfigError(
            f"--role {role} needs PostgreSQL: SQLite is the one-process default "
            "(run `segbot run` without --role, or set SEGBOT_DATABASE_URL to PostgreSQL)"
        )
    return set(Role) - {Role.ALL} if role is Role.ALL else {role}


@dataclass(frozen=True, slots=True)
class Process:
    """Everything one segbot process is built from, whichever parts it runs."""

    settings: Settings
    config: AppConfig
    clock: Clock
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis | None
    bot: Bot
    event_log: EventLog
    worker: DeliveryWorker
    campaigns: CampaignScheduler
    scheduler: AsyncIOScheduler
    web_app: web.Application
    admin_services: AdminServices  # the chat console's and the Mini App console's
    rescore: SyncedHook  # after a CRM sync (scheduled or /sync): RFM and the ladder
    journeys: JourneyRunner
    follower: MembershipFollower  # segment membership following the event log


def _build(
    settings: Settings, config: AppConfig, *, clock: Clock, stack: AsyncExitStack, alone: bool
) -> Process:
    """Build the process; each part that holds a resource is closed on `stack`. `alone`:
    this process is the deployment's only sender (`--role all`)."""
    engine = create_engine(
        settings.database_url,
        show_parameters=settings.log_sql,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    stack.push_async_callback(engine.dispose)
    sessionmaker = create_sessionmaker(engine)
    redis = None if settings.redis_url is None else _redis(settings.redis_url.get_secret_value())
    if redis is not None:
        stack.push_async_callback(redis.aclose)
    bot = build_bot(settings)
    stack.push_async_callback(bot.session.close)
    follower = MembershipFollower(sessionmaker, rfm_segments=config.rfm_names, clock=clock)
    stack.push_async_callback(follower.close)  # after the event log's last batch
    event_log = EventLog(sessionmaker, clock=clock)
    event_log.listen(follower.hear)
    event_log.hear_commits(sessionmaker)  # clicks, quiz answers, blocks...: written elsewhere
    stack.push_async_callback(event_log.close)
    messenger = TelegramMessenger.from_settings(settings)
    stack.push_async_callback(messenger.close)
    worker = _delivery_worker(
        settings, config, sessionmaker, messenger, redis=redis, clock=clock, alone=alone
    )
    scheduler = AsyncIOScheduler(timezone=UTC)
    stack.callback(_shut_down, scheduler)
    campaigns = CampaignScheduler(
        sessionmaker,
        scheduler,
        on_run_started=worker.wake,
        clock=clock,
        rfm_segments=config.rfm_names,
        best_hour=config.broadcasts.best_hour,
        sync_seconds=config.broadcasts.schedule_sync_seconds,
    )
    rescore = after_crm_sync(sessionmaker, config=config.segments, clock=clock)
    admin_services = AdminServices(config, campaigns=campaigns, on_synced=rescore)
    console = ConsoleServices(
        sessionmaker=sessionmaker,
        settings=settings,
        services=admin_services,
        messenger=messenger,
        bot=bot,
        clock=clock,
        secret=secret_key(settings),
    )
    web_app = create_web_app(
        sessionmaker=sessionmaker,
        secret=secret_key(settings),
        clock=clock,
        redis=redis,
        console=create_console_app(console),
    )
    journeys = JourneyRunner(
        sessionmaker,
        notifier=Notifier(sessionmaker, messenger, owners=settings.admin_ids, clock=clock),
        on_queued=worker.wake,
        clock=clock,
        rfm_segments=config.rfm_names,
    )
    event_log.listen(journeys.heard)  # what the bot logs reaches journeys at once
    return Process(
        settings, config, clock, engine, sessionmaker, redis, bot, event_log, worker, campaigns,
        scheduler, web_app, admin_services, rescore, journeys, follower,
    )  # fmt: skip


def _shut_down(scheduler: AsyncIOScheduler) -> None:
    if scheduler.running:
        scheduler.shutdown(wait=False)


def _redis(url: str) -> Redis:
    """A client whose pool waits for a free connection rather than failing: a sender takes
    a batch's slots at once, each a script call."""
    pool = BlockingConnectionPool.from_url(url, max_connections=32, **REDIS_TIMEOUTS)
    return Redis(connection_pool=pool)


def _delivery_worker(
    settings: Settings,
    config: AppConfig,
    sessionmaker: async_sessionmaker[AsyncSession],
    messenger: TelegramMessenger,
    *,
    redis: Redis | None,
    clock: Clock,
    alone: bool,
) -> DeliveryWorker:
    """The broadcast sender at SEGBOT_RATE_LIMIT (and the paid rate, when enabled): the
    whole bot's rate, shared through Redis by every sender process when it is configured.
    A sender `alone` settles every claim left by a stop as it starts, not only its own
    and those of senders whose heartbeat went stale."""
    paid = config.broadcasts.paid_broadcasts
    budget = RateBudget(
        settings.rate_limit,
        paid_per_second=paid.per_second if paid.enabled else None,
        slots=None if redis is None else RedisSlots(redis),
    )
    sender_settings = SenderSettings(
        public_url=settings.public_url,
        secret=secret_key(settings),
        paid_broadcasts=paid.enabled,
        send_timeout=settings.send_timeout,
    )
    sender = Sender(sessionmaker, messenger, budget, sender_settings, clock=clock)
    return DeliveryWorker(sender, sessionmaker, exclusive=alone, clock=clock)


# -- the parts -------------------------------------------------------------------------
def _bot_part(process: Process, *, webhook: bool) -> Part:
    """The bot: the Dispatcher fed by long polling, or by the webhook inbox (its route is
    added to the web app here, before the web server starts)."""
    settings, config, clock = process.settings, process.config, process.clock
    dispatcher = build_dispatcher(
        settings=settings,
        sessionmaker=process.sessionmaker,
        event_log=process.event_log,
        config=config,
        clock=clock,
        admin_services=process.admin_services,
        redis=process.redis,
    )
    process.event_log.start()
    if not webhook:
        return partial(
            lead, process.engine, partial(_poll, dispatcher, process.bot), key=POLLING_LOCK
        )
    inbox = InboxProcessor(
        process.sessionmaker, partial(polling.feed_raw, dispatcher, process.bot), clock=clock
    )
    secret = webhook_secret(secret_key(settings))
    process.web_app.router.add_post(
        WEBHOOK_PATH,
        receiver(process.sessionmaker, secret=secret, clock=clock, stored=inbox.stored),
    )
    return partial(_serve_webhook, dispatcher, process.bot, settings, inbox)


async def _poll(dispatcher: Dispatcher, bot: Bot) -> None:
    """Long-poll until cancelled, each update decoded and handled on its own (bot.polling)."""
    # polling and a webhook exclude each other
    await _until_answered("deleteWebhook", partial(bot.delete_webhook, drop_pending_updates=False))
    await polling.poll(dispatcher, bot, allowed_updates=ALLOWED_UPDATES)


async def _serve_webhook(
    dispatcher: Dispatcher, bot: Bot, settings: Settings, inbox: InboxProcessor
) -> None:
    """Point Telegram at this deployment's webhook, then handle what it stores, between the
    Dispatcher's startup and shutdown hooks."""
    async with polling.lifecycle_hooks(dispatcher, bot):
        set_webhook = partial(
            bot.set_webhook,
            url=settings.public_url + WEBHOOK_PATH,
            secret_token=webhook_secret(secret_key(settings)),
            max_connections=settings.webhook_max_connections,
            allowed_updates=list(ALLOWED_UPDATES),
            drop_pending_updates=False,
        )
        await _until_answered("setWebhook", set_webhook)
        await inbox.run()


async def _until_answered(method: str, call: Callable[[], Coroutine[Any, Any, object]]) -> None:
    """Make a Bot API call the bot cannot start without until Telegram answers it: while
    Telegram cannot be reached, answers 5xx or asks to wait (429), each failure is logged
    and the call tried again after aiogram's backoff (or the wait Telegram asks). A token
    Telegram refuses is a ConfigError that says so (never the token), and so is any other
    refusal, or an answer that is no Bot API answer (SEGBOT_TELEGRAM_API_BASE naming
    another server): one line, what the server said without the token it may repeat."""
    backoff = Backoff(DEFAULT_BACKOFF_CONFIG)
    while True:
        try:
            await call()
        except TelegramUnauthorizedError:
            raise ConfigError(
                "Telegram refuses SEGBOT_BOT_TOKEN (401 Unauthorized): "
                "check the token @BotFather gave"
            ) from None
        except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter) as error:
            wait = wait_before_retry(backoff, error)
            logger.error(
                "%s failed (%s: %s); trying again in %.1f s",
                method,
                type(error).__name__,
                as_said(error.message),
                wait,
            )
            await asyncio.sleep(wait)
        except TelegramAPIError as error:
            raise ConfigError(f"the Bot API refused {method}: {as_said(error.message)}") from None
        except ClientDecodeError:
            raise ConfigError(
                f"the server at SEGBOT_TELEGRAM_API_BASE answered {method} with no Bot API "
                "answer (not JSON): is it a Bot API server?"
            ) from None
        else:
            return


def _sender_part(process: Process) -> Part:
    return process.worker.keep_running


def _scheduler_part(process: Process) -> Part:
    """Campaign schedules, journeys, CRM syncs (each followed by an RFM and ladder rescore)
    and the segment refresh, while this process leads (a standby takes over when it dies)."""
    return partial(lead, process.engine, partial(_keep_schedule, process))


async def _keep_schedule(process: Process) -> None:
    """The scheduler role while this process leads: jobs run until leadership ends."""
    config, sessionmaker, clock = process.config, process.sessionmaker, process.clock
    syncing: set[asyncio.Task[Any]] = set()
    schedule_syncs(
        process.scheduler, sessionmaker=sessionmaker, config=config.crm, on_synced=process.rescore,
        clock=clock, running=syncing,
    )  # fmt: skip
    schedule_refresh(
        process.scheduler, sessionmaker=sessionmaker, config=config.segments, clock=clock
    )
    process.scheduler.start()
    journeys = asyncio.create_task(process.journeys.keep_running(), name="journeys")
    try:
        await process.campaigns.start()
        await asyncio.Event().wait()
    finally:
        journeys.cancel()
        await asyncio.gather(journeys, return_exceptions=True)
        process.scheduler.shutdown(wait=False)  # cancels the jobs running, without waiting
        await asyncio.gather(*syncing, return_exceptions=True)  # for their indexes


async def _until_stopped(parts: list[Part], *, handle_signals: bool) -> None:
    """Run the parts until SIGINT/SIGTERM, cancellation, or one of them failing (raised)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
    for number in signals:
        loop.add_signal_handler(number, stop.set)
    tasks = [asyncio.ensure_future(part()) for part in parts]
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
