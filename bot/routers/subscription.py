"""/start and /stop: joining and leaving the audience."""

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message, User
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.sources import parse_start_payload
from core.subscribers import Profile, SubscribeOutcome, subscribe, unsubscribe

WELCOME = "Welcome! You are subscribed. Send /stop at any time to unsubscribe."
WELCOME_BACK = "Welcome back! You are subscribed again. Send /stop to unsubscribe."
ALREADY_SUBSCRIBED = "You are already subscribed. Send /stop to unsubscribe."
STOPPED = "You are unsubscribed and will get no more messages. Send /start to come back."
NOT_SUBSCRIBED = "You are not subscribed. Send /start to subscribe."

_REPLIES = {
    SubscribeOutcome.NEW: WELCOME,
    SubscribeOutcome.RESUBSCRIBED: WELCOME_BACK,
    SubscribeOutcome.ALREADY_ACTIVE: ALREADY_SUBSCRIBED,
}


def profile_of(user: User, chat_id: int) -> Profile:
    return Profile(
        telegram_id=user.id,
        chat_id=chat_id,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        language_code=user.language_code,
    )


async def start(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Clock,
    secret_key: str,
) -> None:
    if message.from_user is None:
        return
    _, outcome = await subscribe(
        session,
        profile=profile_of(message.from_user, message.chat.id),
        source=parse_start_payload(command.args, secret=secret_key),
        now=clock(),
    )
    await message.answer(_REPLIES[outcome])


async def stop(message: Message, session: AsyncSession, clock: Clock) -> None:
    if message.from_user is None:
        return
    changed = await unsubscribe(session, telegram_id=message.from_user.id, now=clock())
    await message.answer(STOPPED if changed else NOT_SUBSCRIBED)


def router() -> Router:
    router = Router(name=__name__)
    router.message.register(start, CommandStart())
    router.message.register(stop, Command("stop"))
    return router
