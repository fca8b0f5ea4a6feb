"""The aiogram side of a bot process: the `Bot` client and the `Dispatcher` with its
workflow data, middlewares and routers (`bot.runtime` runs them).

Workflow data every handler may declare: `settings`, `config` (the `AppConfig`),
`sessionmaker`, `clock`, `secret_key`, `texts`, `event_log`, and the console's
`admin_services`. Handlers get their DB session and translator from the private-chat
router's inner middlewares (`bot.routers`).
"""

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.admin import install as install_console
from bot.admin.services import AdminServices
from bot.admin.storage import fsm_storage
from bot.config import AppConfig
from bot.conversation_state import StateMiddleware, StatePrefetch
from bot.errors import on_error
from bot.flood import RedisBuckets
from bot.i18n import Texts
from bot.middlewares import EventLogMiddleware, ThrottleMiddleware
from bot.retry import BotApiSession, RetryAfterMiddleware
from bot.routers import get_routers
from bot.shortcut import Unhandled
from core.clock import Clock, utcnow
from core.errors import ConfigError
from core.events import EventLog
from core.settings import Settings

# Telegram sends only what is asked for: reactions and edits must be named explicitly.
ALLOWED_UPDATES = (
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
    "message_reaction",
)


def build_bot(settings: Settings) -> Bot:
    """An aiogram Bot talking to `SEGBOT_TELEGRAM_API_BASE` (Telegram, or the emulator)."""
    if settings.bot_token is None:
        raise ConfigError("SEGBOT_BOT_TOKEN must be set to run the bot")
    session = BotApiSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    session.middleware(RetryAfterMiddleware())
    return Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


def secret_key(settings: Settings) -> str:
    """SEGBOT_SECRET_KEY, which the bot needs (tracked links, deep links, the webhook)."""
    if settings.secret_key is None:
        raise ConfigError("SEGBOT_SECRET_KEY must be set to run the bot")
    return settings.secret_key.get_secret_value()


def build_dispatcher(
    *,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    event_log: EventLog,
    config: AppConfig | None = None,
    clock: Clock = utcnow,
    admin_services: AdminServices | None = None,
    redis: Redis | None = None,
) -> Dispatcher:
    """The Dispatcher with its workflow data, middlewares and routers.

    Outer middlewares (every update), in order: the anti-flood throttle (its buckets in
    Redis when given, so every bot process counts alike; owners exempt), the FSM state in
    aiogram's FSM middleware's stead (`bot.conversation_state`: read along with the flood
    token when both are in one Redis), the event log, and the shortcut past the routers for
    updates no handler can take (`bot.shortcut`).
    """
    texts = Texts()
    config = config or AppConfig()
    dispatcher = Dispatcher(
        storage=fsm_storage(settings),
        disable_fsm=True,  # the FSM state is read after the throttle (bot.conversation_state)
        settings=settings,
        config=config,
        sessionmaker=sessionmaker,
        clock=clock,
        secret_key=secret_key(settings),
        texts=texts,
        event_log=event_log,
    )
    buckets: RedisBuckets | None = None
    prefetch: StatePrefetch | None = None
    if redis is not None:
        buckets = RedisBuckets(redis)
        prefetch = StatePrefetch.of(buckets, redis, dispatcher.fsm)
    dispatcher.update.outer_middleware(
        ThrottleMiddleware(buckets, exempt=settings.admin_ids, prefetch=prefetch)
    )
    dispatcher.update.outer_middleware(StateMiddleware(dispatcher.fsm))
    dispatcher.update.outer_middleware(
        EventLogMiddleware(event_log, clock=clock, store_text=config.tracking.store_message_text)
    )
    # After the event log, which must see every update: the rest skip the router tree when
    # no handler can take them.
    dispatcher.update.outer_middleware(Unhandled(dispatcher))
    dispatcher.errors.register(on_error)
    dispatcher.include_routers(*get_routers(texts=texts, sessionmaker=sessionmaker))
    install_console(dispatcher, admin_services or AdminServices(config))
    return dispatcher
