"""`segbot campaign test-send`: a campaign's messages to one chat, each answer in words.

Every variant goes, in each of its languages, rendered for the sample subscriber (in that
language) by the sender's own `compose`: media, buttons in rows, effects (in a private
chat), links untracked, without the Unsubscribe button. Local files go up once and their
file ids are kept (broadcasts.uploads), so a run after it sends them by id.

Flood control (a 429) is waited out as Telegram asks (retry_after), up to FLOOD_WAITS
times a message; a server error or a connection that never opened is tried again, up to
TRIES sends with a growing pause. Every other answer is final and said as something the
person can act on ("chat not found: that user has not started the bot yet"). A failure
that holds for every message to the chat (not found, blocked, a bot token Telegram does
not know) leaves the rest untried. The command exits 1 unless every message was sent.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from bot.messenger import TelegramMessenger
from broadcasts.compose import Recipient, compose, prepared
from broadcasts.message_content import MessageContent, in_each_language
from broadcasts.messenger import (
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
from broadcasts.templates import SAMPLE
from broadcasts.uploads import FileIds, UploadOnce
from core.settings import Settings

FLOOD_WAITS = 5  # 429s one message may meet; then it is a failure
TRIES = 3  # sends of one message that may end in a server error
BACKOFF_SECONDS = 1.0  # before the second send after a server error; doubles after
_TOKEN_UNKNOWN = ("Unauthorized", "Not Found")  # how the Bot API answers a wrong token

Say = Callable[[str], None]
Sleep = Callable[[float], Awaitable[None]]


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
    messenger: Messenger,
    messages: Sequence[tuple[str, OutgoingMessage]],
    *,
    say: Say,
    note: Say,
    sleep: Sleep = asyncio.sleep,
) -> int:
    """Send each (label, message) in turn, `say` how each went ("label: sent", or why
    not) and `note` each wait; how many were not sent."""
    failed = 0
    for position, (label, message) in enumerate(messages):
        outcome = await send_patiently(messenger, message, note=note, sleep=sleep)
        if isinstance(outcome, Sent):
            say(f"{label}: sent")
            continue
        failed += 1
        say(f"{label}: not sent: {in_words(outcome)}")
        if _ends_this_chat(outcome) and (rest := len(messages) - position - 1):
            say(f"the other {rest} not tried: they would fail the same way")
            return failed + rest
    return failed


async def send_patiently(
    messenger: Messenger, message: OutgoingMessage, *, note: Say, sleep: Sleep = asyncio.sleep
) -> Outcome:
    """Send until an answer that is neither "wait" nor "try again" (within bounds)."""
    floods = tries = 0
    while True:
        outcome = await messenger.send(message)
        if isinstance(outcome, RetryAfter) and floods < FLOOD_WAITS:
            floods += 1
            note(f"Telegram asks to wait {outcome.seconds:g} s (flood control): waiting")
            await sleep(outcome.seconds)
            continue
        if isinstance(outcome, TransientError):
            tries += 1
            if tries < TRIES:
                pause = BACKOFF_SECONDS * 2 ** (tries - 1)
                note(f"{in_words(outcome)}; trying again in {pause:g} s")
                await sleep(pause)
                continue
        return outcome


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
        case Rejected(description) if description.startswith(_TOKEN_UNKNOWN):
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


def _ends_this_chat(outcome: Outcome) -> bool:
    """The answer would be the same for any message to this chat."""
    token = isinstance(outcome, Rejected) and outcome.description.startswith(_TOKEN_UNKNOWN)
    return token or isinstance(outcome, ChatNotFound | Blocked)
