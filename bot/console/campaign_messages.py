"""Every message a composed campaign sends, made by the sender's own `compose`: what the
composer's preview draws and what its test send sends are the same objects, so the two
cannot differ.

Each variant of each target, in each of its languages, is rendered for the sample
subscriber (broadcasts.templates.SAMPLE, awkward on purpose: a name with quotes, `<` and
`&`) in that language, with links untracked (a preview registers none) and the
Unsubscribe button when the campaign has one, as subscribers will get it. A message that
cannot be rendered, or whose markup Telegram would refuse, carries the reason instead.

Each message's template has its own limits (broadcasts.templates.limits: a quarter of a
second of CPU time); all of one campaign's together have PREVIEW_SECONDS, past which the
rest carry that reason: ten targets of four variants in nine languages, each as slow as
its limit lets it be, would otherwise take a minute and a half. The pages render them
in a thread, so the bot's event loop goes on meanwhile.
"""

import time
from dataclasses import dataclass, replace

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
from broadcasts.one_chat import send_in_turn
from broadcasts.spec import DEFAULT_LABEL, CampaignSpec, TargetSpec
from broadcasts.telegram_html import check_length
from broadcasts.templates import SAMPLE
from core.errors import SegbotError

LONGEST_WAIT = 10.0  # seconds; a longer wait is reported, not waited out
NOT_TRIED = "not tried: it would fail the same way"
MOST_TEST_MESSAGES = 20  # Telegram lets a bot send one chat about one message a second
PREVIEW_SECONDS = 2.0  # CPU time one campaign's messages may take to render, all together
OUT_OF_TIME = (
    f"not rendered: this campaign's messages took more than {PREVIEW_SECONDS:g} s of CPU "
    "time in all (a template above is slow to render)"
)


@dataclass(frozen=True, slots=True)
class Version:
    """A variant in one language (None: it has one for everyone), or why it cannot go."""

    language: str | None
    message: OutgoingMessage | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class VariantMessages:
    name: str
    split: int
    versions: list[Version]


@dataclass(frozen=True, slots=True)
class TargetMessages:
    label: str
    audience: str  # "segment vip", "rule lang = es", "everyone no earlier target took"
    variants: list[VariantMessages]


def campaign_messages(spec: CampaignSpec, *, chat_id: int) -> list[TargetMessages]:
    """Each target's messages, in the campaign's order (the default last), for `chat_id`."""
    targets = [(target.name, _audience(target), target.variants) for target in spec.audience]
    if spec.default is not None:
        everyone = "everyone no earlier target took"
        targets.append((DEFAULT_LABEL, everyone, spec.default.variants))
    context = replace(SAMPLE, campaign=spec.name)
    deadline = time.thread_time() + PREVIEW_SECONDS
    found = []
    for label, audience, variants in targets:
        messages = []
        for variant in variants:
            content = MessageContent.of_spec(variant, language=spec.language)
            recipient = Recipient(0, 0, 0, chat_id, context)
            versions = _versions(
                content, label, recipient, unsubscribe=spec.unsubscribe_button, deadline=deadline
            )
            messages.append(VariantMessages(variant.name, variant.split, versions))
        found.append(TargetMessages(label, audience, messages))
    return found


def _audience(target: TargetSpec) -> str:
    return f"segment {target.segment}" if target.segment is not None else f"rule {target.query}"


def _versions(
    content: MessageContent,
    label: str,
    recipient: Recipient,
    *,
    unsubscribe: bool,
    deadline: float,
) -> list[Version]:
    """The variant in each of its languages, rendered until the thread's CPU clock
    reaches `deadline`."""
    try:
        ready = prepared(content, target_label=label)
    except SegbotError as error:  # a template that does not compile
        return [Version(None, None, str(error))]
    versions = []
    for language, context in in_each_language(content, recipient.context):
        if time.thread_time() >= deadline:
            versions.append(Version(language, None, OUT_OF_TIME))
            continue
        try:
            message = compose(
                replace(recipient, context=context), ready, public_url="", secret="",
                unsubscribe_button=unsubscribe,
            )  # fmt: skip
            check_length(message.text, caption=content.caption)  # and Telegram's markup
        except SegbotError as error:
            versions.append(Version(language, None, str(error)))
        else:
            versions.append(Version(language, message))
    return versions


def sendable(targets: list[TargetMessages]) -> list[tuple[str, OutgoingMessage]]:
    """Every message, labelled target/variant (language); SegbotError if any cannot go, or
    if they are more than a test send takes."""
    found = []
    for target in targets:
        for variant in target.variants:
            for version in variant.versions:
                label = f"{target.label}/{variant.name}"
                label += f" ({version.language})" if version.language else ""
                if version.message is None:
                    raise SegbotError(f"{label}: {version.error}")
                found.append((label, version.message))
    if len(found) > MOST_TEST_MESSAGES:
        raise SegbotError(
            f"a test send is at most {MOST_TEST_MESSAGES} messages and this campaign has "
            f"{len(found)} (every variant in every language): the preview shows them all"
        )
    return found


async def send_to_self(
    messenger: Messenger, messages: list[tuple[str, OutgoingMessage]]
) -> list[tuple[str, str, bool]]:
    """Send each (label, message) in turn (broadcasts.one_chat; a wait past LONGEST_WAIT
    is not waited out): (label, how it went, sent?)."""
    results = []
    async for label, outcome in send_in_turn(messenger, messages, longest_wait=LONGEST_WAIT):
        if outcome is None:
            results.append((label, NOT_TRIED, False))
        else:
            results.append((label, _in_words(outcome), isinstance(outcome, Sent)))
    return results


def _in_words(outcome: Outcome) -> str:
    """What an answer means for the admin who asked for the test."""
    match outcome:
        case Sent():
            return "sent"
        case ChatNotFound() | Blocked():
            return "not sent: open the bot in Telegram and press Start (or unblock it) first"
        case Rejected(description):
            return f"not sent: Telegram refused it ({description})"
        case RetryAfter(seconds):
            return f"not sent: Telegram asks to wait {seconds:g} s (flood control); try later"
        case TransientError(description):
            return f"not sent: Telegram could not be reached ({description}); try again"
        case Unknown(description):
            return f"no answer from Telegram ({description}): look whether it arrived"
