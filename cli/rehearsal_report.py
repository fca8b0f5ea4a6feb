"""What a rehearsal (`segbot rehearse`) found, person by person: the message each one
received in the emulator, drawn as Telegram shows it (cli/telegram_view.py), with the
audience and variant it came from; or why they got nothing, in words.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from rich.console import Console

from broadcasts.messenger import Button, Media, MediaKind, OutgoingMessage
from broadcasts.models import DeliveryStatus, Exclusion
from broadcasts.telegram_html import TelegramHtmlError
from cli.rehearsal_people import Person
from cli.sending import FAILED_BECAUSE
from cli.telegram_view import message_view
from telegram_emulator import SentMessage

FAILED = (DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN, DeliveryStatus.BLOCKED)


@dataclass(frozen=True, slots=True)
class Audience:
    """One of the campaign's targets: its label and who it takes."""

    label: str
    who: str  # "segment spanish", "rule lang = es", "everyone else"


@dataclass(frozen=True, slots=True)
class Delivered:
    """A person's delivery in the rehearsal's run, once the sender is done."""

    target: str
    variant: str
    status: DeliveryStatus
    reason: str | None
    due: datetime | None  # when a real run would have sent it (quiet hours, local time)


@dataclass(frozen=True, slots=True)
class Outcome:
    person: Person
    delivery: Delivered | None  # None: no target of the campaign takes them
    messages: list[SentMessage]  # what the emulator received for them

    @property
    def failed(self) -> bool:
        return self.delivery is not None and self.delivery.status in FAILED


@dataclass(frozen=True, slots=True)
class Rehearsal:
    campaign: str
    audiences: tuple[Audience, ...]
    holdout_percent: int
    cap: str  # the frequency cap in words
    outcomes: list[Outcome]


def print_outcomes(console: Console, rehearsal: Rehearsal) -> None:
    """Each person, in the file's order, then how many got what (names, rules and texts
    as they are: a "[/]" in them is not rich markup)."""
    why_not: Counter[str] = Counter()
    for outcome in rehearsal.outcomes:
        delivery = outcome.delivery
        if delivery is not None and delivery.status is DeliveryStatus.SENT:
            console.print(
                f"{outcome.person.name} gets {delivery.target} / {delivery.variant}:",
                markup=False,
            )
            for message in outcome.messages:
                _print_message(console, message)
            if delivery.due is not None:
                console.print(
                    f"  (a real run sends it at {delivery.due:%Y-%m-%d %H:%M} UTC: quiet hours "
                    "or their local time)"
                )
            continue
        reason = _why_nothing(rehearsal, delivery)
        why_not[reason.partition(":")[0]] += 1
        console.print(f"{outcome.person.name}: {reason}", markup=False)
    got = len(rehearsal.outcomes) - sum(why_not.values())
    counted = ", ".join(f"{why} {n}" for why, n in why_not.items())
    people = len(rehearsal.outcomes)
    console.print(
        f"\n{rehearsal.campaign}: {people} {'person' if people == 1 else 'people'}, "
        f"{got} got a message"
        + (f"; nothing for {sum(why_not.values())} ({counted})" if why_not else "")
        + ". SEGBOT_DATABASE_URL was not written and nothing went to Telegram.",
        markup=False,
    )


def _why_nothing(rehearsal: Rehearsal, delivery: Delivered | None) -> str:
    if delivery is None:
        audiences = "; ".join(f"{each.label}: {each.who}" for each in rehearsal.audiences)
        return f"no audience: in none of the campaign's audiences ({audiences})"
    if delivery.status is DeliveryStatus.EXCLUDED:
        if delivery.reason == Exclusion.HOLDOUT:
            return (
                f"holdout: in the control group of {delivery.target} (the "
                f"{rehearsal.holdout_percent}% who get nothing, to measure the lift)"
            )
        if delivery.reason == Exclusion.CAPPED:
            return f"frequency cap: they already had {rehearsal.cap}"
        return f"{delivery.reason}: they are {delivery.reason}, so nothing is sent to them"
    because = FAILED_BECAUSE.get(delivery.reason or "", delivery.reason or "no reason given")
    return f"{delivery.status.value}: {because}"


def _print_message(console: Console, message: SentMessage) -> None:
    rows = (message.reply_markup or {}).get("inline_keyboard")
    keyboard = tuple(
        tuple(
            Button(
                text=str(button.get("text", "")),
                url=_text(button.get("url")),
                data=_text(button.get("callback_data")),
            )
            for button in row
            if isinstance(button, dict)
        )
        for row in (rows if isinstance(rows, list) else [])
        if isinstance(row, list)
    )
    photo = message.photo_source or message.photo
    sent = OutgoingMessage(
        chat_id=message.chat_id,
        text=message.text or message.caption or "",
        media=() if photo is None else (Media(MediaKind.PHOTO, photo),),
        keyboard=keyboard,
    )
    try:
        console.print(message_view(sent))
    except TelegramHtmlError:  # shown as it arrived rather than not at all
        console.print(message.plain_text, markup=False)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
