"""`segbot campaign test-send`: a campaign's messages to one chat, each answer in words.

Every variant goes, in each of its languages, rendered for the sample subscriber (in that
language) by the sender's own `compose`: media, buttons in rows, effects (in a private
chat), links untracked, without the Unsubscribe button. Local files go up once and their
file ids are kept (broadcasts.uploads), so a run after it sends them by id.

The messages go one after another (broadcasts.one_chat): flood control is waited out as
Telegram asks, a server error is tried again a few times, and an answer that holds for
every message to the chat (not found, blocked, a bot token Telegram does not know) leaves
the rest untried. Each wait is noted, and each answer said as something the person can
act on ("chat not found: that user has not started the bot yet"). The command exits 1
unless every message was sent. A chat of a subscriber who has left (unsubscribed, blocked
the bot) is refused before anything is sent.
"""

from collections.abc import Callable, Sequence

from sqlalchemy import not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.messenger import TelegramMessenger
from broadcasts.compose import Recipient, compose, prepared
from broadcasts.message_content import MessageContent, in_each_language
from broadcasts.messenger import (
    TOKEN_UNKNOWN,
    Blocked,
    ChatNotFound,
    Messenger,
    Outcome,
    OutgoingMessage,
    Rejected,
    RetryAfter,
    Sent,
    TransientError,
    Unknown,
)
from broadcasts.models import Campaign
from broadcasts.one_chat import send_in_turn
from broadcasts.templates import SAMPLE
from broadcasts.uploads import FileIds, UploadOnce
from core.erasure import is_erased
from core.errors import NotPossibleError
from core.models import Subscriber, SubscriberStatus
from core.settings import Settings

Say = Callable[[str], None]


class RecipientLeftError(NotPossibleError):
    """The chat is a subscriber who unsubscribed, blocked the bot or deleted their account."""


async def refuse_who_left(session: AsyncSession, *, to: int) -> None:
    """RecipientLeftError if chat `to` is a subscriber who has left (unsubscribed, blocked
    the bot, account deleted): a test message is a campaign's message too, and nobody
    who left gets one."""
    statuses = await session.scalars(
        select(Subscriber.status).where(
            or_(Subscriber.telegram_id == to, Subscriber.chat_id == to), not_(is_erased())
        )
    )
    left = {status for status in statuses.all() if status is not SubscriberStatus.ACTIVE}
    if left:
        raise RecipientLeftError(
            f"{to} is a subscriber who is {', '.join(sorted(left))}: nothing is sent to "
            "someone who left (they open the bot in Telegram and press Start to come back)"
        )


async def send_trial(
    campaign: Campaign, *, to: int, settings: Settings, files: FileIds, say: Say, note: Say
) -> tuple[int, int]:
    """Send every variant of `campaign` in each of its languages to chat `to` (files
    uploaded once, their ids kept in `files`); how many were not sent, of how many."""
    messages = trial_messages(campaign, to=to)
    if to < 0 and any(v.effect_id for t in campaign.targets for v in t.variants):
        note("message effects show only in private chats: sent without them")
    async with TelegramMessenger.from_settings(settings) as telegram:
        messenger = UploadOnce(telegram, files, patience=settings.send_timeout)
        return await send_each(messenger, messages, say=say, note=note), len(messages)


def trial_messages(campaign: Campaign, *, to: int) -> list[tuple[str, OutgoingMessage]]:
    """Each variant of `campaign` in each of its languages for chat `to`, labelled
    `target/variant` (and the language, when it has several)."""
    messages = []
    for target in campaign.targets:
        for variant in target.variants:
            content = MessageContent.of_variant(variant, language=campaign.language)
            ready = prepared(content, variant_id=variant.id, target_label=target.label)
            for language, context in in_each_language(content, SAMPLE):
                label = f"{target.label}/{variant.name}" + (f" ({language})" if language else "")
                recipient = Recipient(0, 0, variant.id, to, context)
                message = compose(
                    recipient, ready, public_url="", secret="", unsubscribe_button=False
                )
                messages.append((label, message))
    return messages


async def send_each(
    messenger: Messenger, messages: Sequence[tuple[str, OutgoingMessage]], *, say: Say, note: Say
) -> int:
    """Send each (label, message) in turn (broadcasts.one_chat), `say` how each went
    ("label: sent", or why not) and `note` each wait; how many were not sent."""

    def waiting(outcome: Outcome, seconds: float) -> None:
        if isinstance(outcome, RetryAfter):
            note(f"Telegram asks to wait {seconds:g} s (flood control): waiting")
        else:
            note(f"{in_words(outcome)}; trying again in {seconds:g} s")

    failed = untried = 0
    async for label, outcome in send_in_turn(messenger, messages, waiting=waiting):
        if outcome is None:
            untried += 1
        elif isinstance(outcome, Sent):
            say(f"{label}: sent")
        else:
            failed += 1
            say(f"{label}: not sent: {in_words(outcome)}")
    if untried:
        say(f"the other {untried} not tried: they would fail the same way")
    return failed + untried


def in_words(outcome: Outcome) -> str:
    """What an answer means for the person sending, and what to do about it."""
    match outcome:
        case Sent():
            return "sent"
        case ChatNotFound():
            return (
                "chat not found: that user has not started the bot yet "
                "(they open it in Telegram and press Start)"
            )
        case Blocked(deactivated=True):
            return "that Telegram account is deleted"
        case Blocked():
            return (
                "forbidden: that user blocked the bot or never started it "
                "(they open it in Telegram and press Start)"
            )
        case Rejected(description) if description.startswith(TOKEN_UNKNOWN):
            return (
                f"Telegram does not know this bot token ({description}): "
                "check SEGBOT_BOT_TOKEN (and SEGBOT_TELEGRAM_API_BASE)"
            )
        case Rejected(description):
            return f"Telegram refused the message: {description}"
        case RetryAfter(seconds):
            return f"Telegram kept asking to wait (flood control, {seconds:g} s): try later"
        case TransientError(description):
            return (
                f"Telegram could not be reached or failed ({description}): "
                "check SEGBOT_TELEGRAM_API_BASE and the network"
            )
        case Unknown(description):
            return f"no answer from Telegram ({description}): it may have arrived, look"
