"""The composer's form as a campaign: the dict `segbot campaign create` reads from a YAML
file, written as that YAML and read by the same parser (broadcasts.spec.parse_campaign).
So the console accepts exactly what a file would, and a mistake gets the parser's own
message; its line is the YAML's, which the page shows beside it (and which the marketer
may keep as a file).

What the form writes its own way, and checks here: media (one item a line; several
make an album), buttons (a row a line), button labels per language (one a line, in the
buttons' order), personas (each becomes its segment or rule, as the chat wizard does:
broadcasts.personas) and the schedule (read by the wizard's
bot.admin.draft.parse_schedule). Media are URLs or Telegram file_ids only: a path would
name a file on this server, which no browser should make the bot read and send.
"""

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin.draft import When, parse_schedule, persona_target
from bot.console.campaign_form import (
    DEFAULT,
    PERSONA,
    QUERY,
    SEGMENT,
    CampaignForm,
    TargetForm,
    VariantForm,
)
from broadcasts.message_spec import MEDIA_FIELDS
from broadcasts.personas import persona_label
from broadcasts.spec import CampaignFileError, CampaignSpec, ScheduleSpec, parse_campaign
from core.errors import SegbotError
from segments.ai.personas import persona_targets

# What each kind of schedule needs filled in (the form's fields, as the page names them).
_NEEDS = {
    When.AT: ("day", "time"),
    When.LOCAL: ("day", "time"),
    When.BEST_HOUR: ("day",),
    When.RECURRING: ("cron",),
}
CRON_FIELDS = 5
_FILE_ID = re.compile(r"^[A-Za-z0-9_-]+$")


class CampaignFormError(SegbotError):
    """The form does not make a campaign; `yaml_text` is the file it made, when it got that
    far (the message's line numbers are its lines)."""

    def __init__(self, message: str, *, yaml_text: str | None = None) -> None:
        super().__init__(message)
        self.yaml_text = yaml_text


@dataclass(frozen=True, slots=True)
class Composed:
    spec: CampaignSpec
    yaml_text: str  # the same campaign as a file for `segbot campaign create`


async def compose_campaign(session: AsyncSession, form: CampaignForm, *, now: datetime) -> Composed:
    """The campaign the form describes, parsed as a file is; CampaignFormError otherwise."""
    try:
        data = await _campaign_data(session, form, now=now)
    except SegbotError as error:
        raise CampaignFormError(str(error)) from None
    # In a thread: a form of many targets, variants and languages is hundreds of
    # templates to compile, seconds the bot's event loop goes on meanwhile.
    return await asyncio.to_thread(_parsed, data)


def _parsed(data: dict[str, Any]) -> Composed:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
    try:
        spec = parse_campaign(text, source="campaign")
    except CampaignFileError as error:
        raise CampaignFormError(str(error), yaml_text=text) from None
    return Composed(spec, text)


async def _campaign_data(
    session: AsyncSession, form: CampaignForm, *, now: datetime
) -> dict[str, Any]:
    """The campaign file's content; SegbotError for what only the form can get wrong."""
    languages = form.languages
    data: dict[str, Any] = {
        "name": form.name.strip(),
        "goal": form.goal,
        "language": languages[0],
        "holdout": _number(form.holdout),
        "frequency_cap": {"messages": _number(form.cap_messages), "hours": _number(form.cap_hours)},
        "timezone": form.timezone.strip(),
        "unsubscribe_button": form.unsubscribe,
    }
    if form.quiet_start or form.quiet_end:
        data["quiet_hours"] = {"start": form.quiet_start, "end": form.quiet_end}
    audience, default = await _audience(session, form, languages)
    if audience:
        data["audience"] = audience
    if default is not None:
        data["default"] = default
    data["schedule"] = _schedule(form, now).model_dump(mode="json", exclude_defaults=True)
    return data


async def _audience(
    session: AsyncSession, form: CampaignForm, languages: list[str]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The audience's targets in order, and the default (whoever no target took)."""
    chosen = [
        t.audience.removeprefix(PERSONA) for t in form.targets if t.audience.startswith(PERSONA)
    ]
    personas = iter(await persona_targets(session, names=chosen) if chosen else [])
    audience: list[dict[str, Any]] = []
    labels: list[str] = []  # taken, so a persona's label differs from them
    default = None
    for number, target in enumerate(form.targets, 1):
        where = f"target {number}"
        variants = [_message(variant, languages, where, target) for variant in target.variants]
        if target.audience == DEFAULT:
            if default is not None:
                raise SegbotError(f"{where}: only one target can be everyone else")
            default = {"variants": variants}
            continue
        label = target.label.strip()
        if target.audience.startswith(SEGMENT):
            segment = target.audience.removeprefix(SEGMENT)
            entry = {"segment": segment, "label": label or None}
            label = label or segment
        elif target.audience == QUERY:
            entry = {"query": target.query.strip(), "label": label or None}
        elif target.audience.startswith(PERSONA):
            name = target.audience.removeprefix(PERSONA)
            label = label or persona_label(name, labels)
            persona = persona_target(name, label, next(personas))
            entry = {"segment": persona.segment, "query": persona.query, "label": label}
        else:
            raise SegbotError(f"{where}: choose who gets it")
        labels.append(label)
        written = {key: value for key, value in entry.items() if value is not None}
        audience.append(written | {"variants": variants})
    return audience, default


def _message(
    message: VariantForm, languages: list[str], where: str, target: TargetForm
) -> dict[str, Any]:
    """One variant as the file writes it."""
    if len(target.variants) > 1:
        where = f"{where}, variant {message.name}"
    data: dict[str, Any] = {}
    if len(target.variants) > 1:
        data |= {"name": message.name.strip(), "split": _number(message.split)}
    items = [line.split() for line in message.media.splitlines() if line.strip()]
    media = [_media_item(item, where) for item in items]
    texts = {code: message.texts.get(code, "") for code in languages}
    body = _localized(texts, languages)
    if not media:
        if not texts[languages[0]].strip():
            raise SegbotError(f"{where}: write the message's text ({languages[0]})")
        data["text"] = body
        if not message.link_preview:
            data["link_preview"] = False
    elif len(media) == 1:
        kind, ref = media[0]
        data |= {kind: ref, "caption": body}
    else:
        data |= {"album": [{kind: ref} for kind, ref in media], "caption": body}
    if message.buttons.strip():
        data["buttons"] = _buttons(message, languages, where)
    if message.effect:
        data["effect"] = message.effect
    if message.protect:
        data["protect_content"] = True
    return data


def _number(text: str) -> int | str:
    """A whole number as one (the file reads better); anything else for the parser to judge."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdecimal() and len(text) < 10 else text


def _localized(texts: dict[str, str], languages: list[str]) -> str | dict[str, str]:
    """One text for everyone, or one per language given (the default's always)."""
    return _one_or_many(
        {code: text for code, text in texts.items() if code == languages[0] or text.strip()}
    )


def _media_item(words: list[str], where: str) -> tuple[str, str]:
    """("photo", ref) from "REF" or "KIND REF"."""
    kind, ref = ("photo", words[0]) if len(words) == 1 else (words[0].lower(), words[-1])
    if len(words) > 2 or kind not in MEDIA_FIELDS:
        raise SegbotError(
            f"{where}: a media line is a URL or file_id, or a kind ({', '.join(MEDIA_FIELDS)}) "
            f"and then one: {' '.join(words)!r}"
        )
    if not ref.startswith(("http://", "https://")) and not _FILE_ID.match(ref):
        raise SegbotError(
            f"{where}: {ref!r} is not a URL (https://...) or a Telegram file_id; the console "
            "sends no files from the server"
        )
    return kind, ref


def _buttons(message: VariantForm, languages: list[str], where: str) -> list[list[dict[str, Any]]]:
    """Rows of link buttons, each label in every language given for it."""
    lines = filter(str.strip, message.buttons.splitlines())
    rows = [_row(line, f"{where}, buttons line {n}") for n, line in enumerate(lines, 1)]
    count = sum(len(row) for row in rows)
    texts: list[dict[str, str]] = [{languages[0]: label} for row in rows for label, _ in row]
    for code in languages[1:]:
        labels = [line.strip() for line in message.labels.get(code, "").splitlines()]
        labels = [label for label in labels if label]
        if labels and len(labels) != count:
            raise SegbotError(
                f"{where}: {len(labels)} button labels in {code} for {count} buttons "
                "(one a line, in the buttons' order)"
            )
        for each, label in zip(texts, labels, strict=False):
            each[code] = label
    labelled = iter(texts)
    return [[{"text": _one_or_many(next(labelled)), "url": url} for _, url in row] for row in rows]


def _one_or_many(texts: dict[str, str]) -> str | dict[str, str]:
    return next(iter(texts.values())) if len(texts) == 1 else texts


def _row(line: str, where: str) -> list[tuple[str, str]]:
    """The buttons of "Label | https://link  Label | https://link", in order."""
    parts = line.split("|")
    label, buttons = parts[0].strip(), []
    for part in parts[1:]:
        words = part.split(maxsplit=1)
        if not label or not words:
            break
        buttons.append((label, words[0]))
        label = words[1].strip() if len(words) > 1 else ""
    else:
        if buttons and not label:
            return buttons
    raise SegbotError(
        f"{where}: write Label | https://link, several in a row as "
        f"Label | https://link  Label | https://link; not {line.strip()!r}"
    )


def _schedule(form: CampaignForm, now: datetime) -> ScheduleSpec:
    """The schedule as the chat wizard reads it (a time that has passed is refused)."""
    if form.when not in tuple(When):
        raise SegbotError("choose when it goes out")
    when = When(form.when)
    missing = [name for name in _NEEDS.get(when, ()) if not getattr(form, name).strip()]
    if missing:
        raise SegbotError(f"when: give the {' and the '.join(missing)}")
    if when is When.RECURRING and len(form.cron.split()) != CRON_FIELDS:
        raise SegbotError("when: a cron line has five fields: minute hour day month weekday")
    zone = form.zone.strip() or "UTC"
    typed = {
        When.NOW: "",
        When.AT: f"{form.day} {form.time} {zone}",
        When.RECURRING: f"{form.cron.strip()} {zone}",
        When.LOCAL: f"{form.day} {form.time}",
        When.BEST_HOUR: form.day,
    }[when]
    return parse_schedule(when, typed, now=now)
