"""Joining and leaving: /start (with its deep-link source), /stop, the Unsubscribe button
broadcasts can attach, and blocking or unblocking the bot."""

import logging

from aiogram import Router
from aiogram.filters import (
    KICKED,
    MEMBER,
    ChatMemberUpdatedFilter,
    Command,
    CommandObject,
    CommandStart,
)
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message, User
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import AppConfig
from bot.filters import Data
from bot.i18n import Translator
from bot.leaving import STOP
from bot.routers.quiz import ask
from broadcasts.button_spec import UNSUBSCRIBE_DATA
from core.clock import Clock
from core.sources import StartSource, parse_start_payload
from core.subscribers import (
    Profile,
    SubscribeOutcome,
    record_block,
    subscribe,
    unsubscribe,
)
from crm_sync.matching import UnknownCustomerError, link_by_deep_link

logger = logging.getLogger(__name__)


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
    config: AppConfig,
    t: Translator,
) -> None:
    if message.from_user is None:
        return
    source = parse_start_payload(command.args, secret=secret_key)
    subscriber, outcome = await subscribe(
        session,
        profile=profile_of(message.from_user, message.chat.id),
        source=source,
        now=clock(),
    )
    await _link_customer(session, subscriber.id, source)
    replies = {
        SubscribeOutcome.NEW: t(
            "Welcome! You are subscribed. Send /stop at any time to unsubscribe."
        ),
        SubscribeOutcome.RESUBSCRIBED: t(
            "Welcome back! You are subscribed again. Send /stop to unsubscribe."
        ),
        SubscribeOutcome.ALREADY_ACTIVE: t(
            "You are already subscribed. Send /profile to see your answers or /stop to unsubscribe."
        ),
    }
    await message.answer(replies[outcome])
    quiz = config.quiz
    if outcome is SubscribeOutcome.NEW and quiz.enabled and quiz.questions:
        await ask(message, quiz.questions[0], t, editing=False)


async def _link_customer(
    session: AsyncSession, subscriber_id: int, source: StartSource | None
) -> None:
    if source is None or source.customer is None:
        return
    try:
        await link_by_deep_link(
            session,
            subscriber_id=subscriber_id,
            source=source.customer.source,
            external_id=source.customer.external_id,
        )
    except UnknownCustomerError:
        # A valid signature for a customer the CRM sync has not brought in (yet).
        logger.info("customer link for an unknown customer (subscriber %s)", subscriber_id)


async def stop(message: Message, session: AsyncSession, clock: Clock, t: Translator) -> None:
    if message.from_user is None:
        return
    changed = await unsubscribe(session, telegram_id=message.from_user.id, now=clock())
    await message.answer(
        _stopped(t) if changed else t("You are not subscribed. Send /start to subscribe.")
    )


async def unsubscribe_button(
    query: CallbackQuery, session: AsyncSession, clock: Clock, t: Translator
) -> None:
    """The farewell is sent once: a second press (or a press after /stop) only says so."""
    changed = await unsubscribe(session, telegram_id=query.from_user.id, now=clock())
    await query.answer(t("Unsubscribed."))
    if changed and isinstance(query.message, Message):
        await query.message.answer(_stopped(t))


def _stopped(t: Translator) -> str:
    return t("You are unsubscribed and will get no more messages. Send /start to come back.")


async def blocked(event: ChatMemberUpdated, session: AsyncSession, clock: Clock) -> None:
    await record_block(session, telegram_id=event.from_user.id, blocked=True, now=clock())


async def unblocked(event: ChatMemberUpdated, session: AsyncSession, clock: Clock) -> None:
    await record_block(session, telegram_id=event.from_user.id, blocked=False, now=clock())


def register(router: Router) -> None:
    """Adds this feature's handlers to `router` (the private-chat router)."""
    router.message.register(start, CommandStart())
    router.message.register(stop, Command(STOP))
    router.callback_query.register(unsubscribe_button, Data(exactly=UNSUBSCRIBE_DATA))
    router.my_chat_member.register(blocked, ChatMemberUpdatedFilter(member_status_changed=KICKED))
    router.my_chat_member.register(unblocked, ChatMemberUpdatedFilter(member_status_changed=MEMBER))
