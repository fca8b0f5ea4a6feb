"""AI segment commands: `/ai_segments` (the current AI segments with their profiles, or
generate / regenerate them, with a cluster chart) and `/lookalike SEED SIZE [NAME]`.

Anyone with the reports permission may list AI segments; generating them, like saving a
lookalike, takes the segments permission (marketers and owners). `generate` refuses to
replace AI segments that exist; `regenerate` replaces them and says what went.
"""

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import partial
from html import escape
from typing import Any

from aiogram.types import BufferedInputFile
from sqlalchemy import select

from bot.admin import charts
from bot.admin.monospace import bold, code, pieces
from bot.admin.permissions import Permission
from bot.admin.registry import AdminCommand, Call, QueryError, UsageError
from bot.admin.segment_deletion import refuse_if_used
from segments.ai.chart import cluster_chart_png
from segments.ai.generate import Generation, generate_ai_segments
from segments.ai.llm import language_model
from segments.ai.lookalike import MAX_SIZE, build_lookalike
from segments.ai.profiles import HOW_TO_READ
from segments.models import Segment, SegmentKind, SegmentProfile
from segments.rules import RuleError
from segments.rules.errors import excerpt
from segments.saved import MAX_NAME

SECTIONS = ("demographics", "geography", "interests", "behaviours")
TRAITS_SHOWN = 4  # per section
MAX_K = 50  # as segbot.yaml's ai.k_max allows
VERBS = ("generate", "regenerate")
_DESCRIBE = re.compile(r"\bdescribe\b", re.IGNORECASE)
_WHERE = re.compile(r"\bwhere\b", re.IGNORECASE)
_SIZE = re.compile(r"\d[\d,_]{0,15}")  # written as people write numbers: 1,000 or 1_000
_LOOKALIKE = re.compile(
    rf"^(?P<seed>.+?)\s+(?P<size>{_SIZE.pattern})(?:\s+(?P<name>.+))?$", re.DOTALL
)
_NUMBER_LIKE = re.compile(r"[-+]?[\d.,_]*\d[\d.,_]*")  # what someone meant as a size
SIZE_RULE = f"the size must be between 1 and {MAX_SIZE:,}, a whole number"


@dataclass(frozen=True, slots=True)
class Generate:
    """What `/ai_segments generate|regenerate ...` asked for."""

    replace: bool
    k_min: int | None
    k_max: int | None
    description: str | None


def _texts(data: Mapping[str, Any], key: str) -> list[str]:
    """The texts under `key`: a list as stored, or a tuple as a fresh profile has them."""
    value = data.get(key)
    return [str(item) for item in value] if isinstance(value, list | tuple) else []


def profile_block(name: str, size: int, data: Mapping[str, Any]) -> str:
    """One AI segment for the chat: name and size, its profile by section, pain points
    and what to send them (a profile as `Profile.as_json()` stores it)."""
    share = data.get("share")
    of_all = f" ({share:.0%} of the audience)" if isinstance(share, float) else ""
    lines = [f"{bold(name)} — {size:,} subscribers{of_all}"]
    for section in SECTIONS:
        traits = _texts(data, section)[:TRAITS_SHOWN]
        lines.append(f"{section.capitalize()}: {escape('; '.join(traits) or '-')}")
    lines.append(f"Pain points: {escape('; '.join(_texts(data, 'pain_points')) or '-')}")
    advice = [str(data.get(key, "-")).replace("_", " ") for key in ("preferred_format", "tone")]
    lines.append(
        f"Send: {escape(' · '.join(advice))} · offer {escape(str(data.get('offer', '-')))}"
    )
    return "\n".join(lines)


FOOTER = "/persona_from SEGMENT turns one into a persona; /segment SEGMENT shows its members."
READ_ONLY_FOOTER = "/segment SEGMENT shows its members."


async def _list(call: Call) -> None:
    rows = (
        await call.session.execute(
            select(Segment.name, Segment.size, SegmentProfile.profile)
            .join(SegmentProfile, SegmentProfile.segment_id == Segment.id)
            .where(Segment.kind == SegmentKind.AI)
            .order_by(Segment.size.desc(), Segment.name)
        )
    ).all()
    if not rows:
        hint = " /ai_segments generate finds them." if call.admin.can(Permission.SEGMENTS) else ""
        await call.reply(f"No AI segments yet.{hint}")
        return
    header = (
        f"{bold('AI segments')} ({len(rows)}; members at the last refresh)\n{escape(HOW_TO_READ)}"
    )
    blocks = [profile_block(name, size or 0, profile) for name, size, profile in rows]
    footer = FOOTER if call.admin.can(Permission.SEGMENTS) else READ_ONLY_FOOTER
    for text in pieces([header, *blocks, escape(footer)]):
        await call.reply(text)


def _count(call: Call, text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 2 <= int(text) <= MAX_K:
        raise call.usage(f"{what} must be a number from 2 to {MAX_K}; got {text!r}.")
    return int(text)


def parse_generate(call: Call) -> Generate:
    """`generate|regenerate [K_MIN K_MAX] [describe TEXT]`; the usage otherwise."""
    parts = _DESCRIBE.split(call.args, maxsplit=1)
    words = parts[0].split()
    if not words:
        raise call.usage(
            "describe comes after generate or regenerate: /ai_segments generate describe TEXT."
        )
    if words[0].lower() not in VERBS:
        raise call.usage(
            f"{excerpt(words[0])!r} is not understood: start with generate or regenerate "
            "(/ai_segments alone lists the AI segments)."
        )
    if len(words) == 2:
        raise call.usage(f"Give both K_MIN and K_MAX, or neither; got only {excerpt(words[1])!r}.")
    if len(words) > 3:
        raise call.usage(
            f"{excerpt(words[3])!r} is not understood: after K_MIN K_MAX comes describe TEXT, "
            "or nothing."
        )
    description = parts[1].strip() if len(parts) == 2 else None
    if description == "":
        raise call.usage("Say what to look for after describe, e.g. describe interests.")
    low, high = (None, None)
    if len(words) == 3:
        low, high = _count(call, words[1], "K_MIN"), _count(call, words[2], "K_MAX")
        if low > high:
            raise call.usage(f"K_MIN ({low}) must not exceed K_MAX ({high}).")
    return Generate(words[0].lower() == "regenerate", low, high, description)


async def _generate(call: Call, asked: Generate) -> None:
    existing = await call.session.scalar(
        select(Segment.id).where(Segment.kind == SegmentKind.AI).limit(1)
    )
    if existing is not None and not asked.replace:
        raise UsageError(
            "AI segments exist already: /ai_segments regenerate replaces all of them (and "
            "personas made from them lose their source)."
        )
    await call.reply("Finding AI segments: this can take a minute on a large audience…")
    try:
        result = await generate_ai_segments(
            call.sessionmaker, now=call.clock(), config=call.services.ai, k_min=asked.k_min,
            k_max=asked.k_max, description=asked.description,
            model=language_model(call.settings), rfm_segments=call.services.rfm_names,
            check_removable=partial(refuse_if_used, rfm_segments=call.services.rfm_names),
        )  # fmt: skip
    except RuleError as error:  # in the audience rule after `where`
        parts = _WHERE.split(asked.description or "", maxsplit=1)
        raise QueryError(error, parts[-1].strip()) from None
    png = await charts.render(lambda: cluster_chart_png(result))
    await call.message.answer_photo(
        BufferedInputFile(png, filename="ai-segments.png"),
        caption=f"{result.k} AI segments of {result.audience:,} subscribers",
    )
    for text in pieces(generation_blocks(result)):
        await call.reply(text)


def generation_blocks(result: Generation) -> list[str]:
    """The reply to a generation: what was clustered, what it replaced, each profile."""
    head = [
        f"{bold(f'{result.k} AI segments')} of {result.audience:,} active subscribers "
        f"(fitted on {result.fitted_on:,})",
        f"How many: {escape(result.choice.summary())}",
        f"Features: {escape(', '.join(result.groups))}",
        escape(HOW_TO_READ),
    ]
    if result.where:
        head.append(f"Audience: {code(result.where)}")
    if result.named_by_model:
        head.append("Named by the language model.")
    if result.removed:
        removed = escape(", ".join(result.removed))
        head.append(f"Replaced {len(result.removed)} earlier AI segments: {removed}")
    if result.orphaned_personas:
        head.append(
            "These personas lost their source segment: "
            f"{escape(', '.join(result.orphaned_personas))} — make them again with "
            "/persona_from, or give them a rule."
        )
    blocks = [profile_block(p.name, p.size, p.as_json()) for p in result.profiles]
    return ["\n".join(head), *blocks, escape(FOOTER)]


async def ai_segments_command(call: Call) -> None:
    if not call.args:
        await _list(call)
        return
    if not call.admin.can(Permission.SEGMENTS):
        raise UsageError(
            f"Your role ({call.admin.role.value}) may list AI segments; generating them "
            "takes a marketer or an owner."
        )
    await _generate(call, parse_generate(call))


def _unquoted(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) > 1 and text[0] == text[-1] == '"' else text


def _no_size(words: list[str], names: Collection[str]) -> str:
    """Why no SIZE was found: the word after the seed (the longest leading words naming a
    segment), else the first word that looks like a number, is not one."""
    if not words:
        return "Give the seed segment and how many subscribers to find."
    seeds = (end for end in range(len(words), 0, -1) if _unquoted(" ".join(words[:end])) in names)
    seed_end = next(seeds, None)
    if len(words) == 1 or seed_end == len(words):
        return f"Give how many subscribers to find after the seed: {SIZE_RULE}."
    numbers = (word for word in words[1:] if _NUMBER_LIKE.fullmatch(word))
    wrong = words[seed_end] if seed_end is not None else next(numbers, None)
    if wrong is None:
        return f"No SIZE after the seed segment: {SIZE_RULE}."
    return f"{excerpt(wrong)!r} is not a size: {SIZE_RULE}."


def _after_a_segment(args: str, names: Collection[str]) -> tuple[str, str, str | None] | None:
    """(seed, size, name) where SEED is the longest run of leading words (or a quoted
    text) naming a segment and a size follows it: an AI segment's name holds numbers and
    commas of its own (`AI 2: age_band 25_34, Madrid`), which the pattern would take."""
    words = args.split()
    for end in range(len(words) - 1, 0, -1):
        seed = _unquoted(" ".join(words[:end]))
        if seed in names and _SIZE.fullmatch(words[end]):
            return seed, words[end], " ".join(words[end + 1 :]) or None
    return None


async def parse_lookalike(call: Call) -> tuple[str, int, str | None]:
    """`SEED SIZE [NAME]`; the usage, saying what was wrong, otherwise."""
    names = set((await call.session.scalars(select(Segment.name))).all())
    split = _after_a_segment(call.args, names)
    if split is None:
        found = _LOOKALIKE.match(call.args)
        if found is None:
            raise call.usage(_no_size(call.args.split(), names))
        split = (_unquoted(found["seed"]), found["size"], found["name"])
    seed, size_text, name_text = split
    size = int(size_text.replace(",", "").replace("_", ""))
    if not 0 < size <= MAX_SIZE:
        raise call.usage(f"{excerpt(size_text)!r} is not a size: {SIZE_RULE}.")
    name = _unquoted(name_text) if name_text else None
    if name is not None and len(name) > MAX_NAME:
        raise call.usage(
            f"The NAME is {len(name):,} characters: a segment name is at most {MAX_NAME}."
        )
    return seed, size, name


async def lookalike_command(call: Call) -> None:
    seed, size, name = await parse_lookalike(call)
    result = await build_lookalike(
        call.sessionmaker, seed=seed, size=size, now=call.clock(), config=call.services.ai,
        name=name, rfm_segments=call.services.rfm_names,
    )  # fmt: skip
    lines = [
        f"{'Replaced' if result.replaced else 'Saved'} the segment {bold(result.name)}: the "
        f"{result.size:,} subscribers most like the {result.seed_size:,} in {escape(seed)}."
    ]
    if result.size < size:
        lines.append(f"Only {result.size:,} active subscribers outside {escape(seed)} exist.")
    lines.append(f"/segment {escape(result.name)} shows them; /export exports them for ads.")
    await call.reply("\n".join(lines))


COMMANDS = (
    AdminCommand(
        "ai_segments",
        Permission.REPORTS,
        "/ai_segments [generate|regenerate] [K_MIN K_MAX] [describe TEXT]",
        "AI segments and their profiles; generate or regenerate them",
        ai_segments_command,
    ),
    AdminCommand(
        "lookalike",
        Permission.SEGMENTS,
        "/lookalike SEED SIZE [NAME]",
        "Save the SIZE subscribers most like a segment's members as a segment",
        lookalike_command,
    ),
)
