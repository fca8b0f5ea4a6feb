"""Segment commands: `/segments`, `/segment NAME|QUERY`, `/segment_save`, `/segment_delete`,
`/rfm`, `/ladder` and `/export` (a CSV of a segment for ad platforms).

A rule may be 10,000 characters long and a chat message at most 4,096, so a reply quotes a
rule cut short (`ECHOED`, `LISTED` characters), a rule error shows a window of the rule
around the place (`RuleError.pointer`), and a long list goes out in several messages.
"""

import io
import re
from html import escape

import pandas as pd
from aiogram.types import BufferedInputFile
from sqlalchemy import ColumnElement, func, select

from bot.admin import charts
from bot.admin.monospace import bold, code, percent, pieces, table
from bot.admin.permissions import Permission
from bot.admin.registry import AdminCommand, Call, QueryError
from bot.admin.segment_deletion import delete_segment
from bot.admin.unknown_names import names_text
from broadcasts.spec import NAME_PATTERN
from core.models import Subscriber, SubscriberStatus
from crm_sync.reports import HOW_CUSTOMERS_LINK, why_empty
from journeys.known_names import Named
from segments.export import ExportFormat, write_export
from segments.ladder import ladder
from segments.membership import size_history
from segments.models import Segment
from segments.rfm.purchases import customers_with_orders
from segments.rfm.scoring import shortfall
from segments.rfm.store import rfm_table
from segments.rules import Rule, RuleError, parse
from segments.rules.compiler import condition
from segments.rules.errors import excerpt
from segments.rules.fields import asks_about_customers
from segments.saved import list_segments, save_segment, saved_rules

SAMPLE = 5
SCORES = range(1, 6)
ECHOED = 300  # characters of a rule quoted in a reply about it
LISTED = 100  # characters of each rule in the list of segments
LISTED_ROWS = 40  # segments per table and per block of rules in the list


def _when(segment: Segment) -> str:
    return "never" if segment.refreshed_at is None else f"{segment.refreshed_at:%m-%d %H:%M}"


async def segments_command(call: Call) -> None:
    if call.args:
        raise call.usage("/segments takes no arguments.")
    segments = await list_segments(call.session)
    if not segments:
        await call.reply("No saved segments yet. Save one: /segment_save NAME QUERY")
        return
    whys = await _why_empty(call, {segment.name: segment.size for segment in segments})
    explained = [f"{bold(name)}: {escape(why)}" for name, why in whys.items()]
    rows = [(segment.name, segment.size, _when(segment)) for segment in segments]
    rules = [f"{bold(s.name)}: {code(excerpt(s.rule_text, LISTED))}" for s in segments]
    blocks = [
        *(
            table(["segment", "members", "refreshed"], rows[start : start + LISTED_ROWS])
            for start in range(0, len(rows), LISTED_ROWS)
        ),
        *(
            "\n".join(rules[start : start + LISTED_ROWS])
            for start in range(0, len(rules), LISTED_ROWS)
        ),
        *(
            "\n".join(explained[start : start + LISTED_ROWS])
            for start in range(0, len(explained), LISTED_ROWS)
        ),
        *([escape(HOW_CUSTOMERS_LINK)] if explained else []),
        "/segment NAME for members and history.",
    ]
    blocks[0] = f"{bold('Saved segments')} (members at the last refresh)\n{blocks[0]}"
    for text in pieces(blocks):
        await call.reply(text)


async def segment_command(call: Call) -> None:
    if not call.args:
        raise call.usage("Give a saved segment's name or a query.")
    text = call.args
    rules = await saved_rules(call.session, rfm_segments=call.services.rfm_names)
    segment = await call.session.scalar(select(Segment).where(Segment.name == text))
    if segment is not None and text not in rules:
        raise call.usage(f"Segment {text!r} has a rule that no longer works; save it again.")
    rule = rules[text] if segment is not None else await _parsed(call, text)
    try:
        where = condition(rule, now=call.clock(), segments=rules)
    except RuleError as error:
        raise QueryError(error, text) from None
    active = where & (Subscriber.status == SubscriberStatus.ACTIVE)
    total = await _counted(call, where)
    reachable = await _counted(call, active)
    sample = (
        await call.session.scalars(
            select(Subscriber).where(where).order_by(Subscriber.id).limit(SAMPLE)
        )
    ).all()
    title = f"Segment {text}" if segment is not None else "Query"
    lines = [bold(title), code(excerpt(segment.rule_text if segment else text, ECHOED))]
    if segment is not None and segment.description:
        lines.append(escape(excerpt(segment.description, ECHOED)))
    lines.append(f"{_match(total)} now, {reachable:,} of them active.")
    if sample:
        rows = [
            (
                str(s.telegram_id),
                s.first_name or "",
                f"@{s.username}" if s.username else "",
                s.status.value,
            )
            for s in sample
        ]
        lines.append(f"Sample:\n{table(['telegram id', 'name', 'username', 'status'], rows)}")
    await call.reply("\n".join(lines))
    if segment is not None:
        await _size_chart(call, segment)


async def _why_empty(call: Call, sizes: dict[str, int | None]) -> dict[str, str]:
    """Why segments count no subscriber, when their rule asks about CRM customers and no
    customer is linked: `0 subscribers (50 customers, 0 linked to a subscriber)`."""
    if 0 not in sizes.values():
        return {}
    rules = await saved_rules(call.session, rfm_segments=call.services.rfm_names)
    asking = {name for name, rule in rules.items() if asks_about_customers(rule, segments=rules)}
    return await why_empty(call.session, sizes, asking=asking)


async def _parsed(call: Call, text: str) -> Rule:
    """`text` as a query; one word that is neither is told with the segments there are
    (bot.admin.unknown_names), as any other command is told a name nothing has."""
    try:
        return parse(text, rfm_segments=call.services.rfm_names)
    except RuleError as error:
        if " " not in text.strip():
            names = await names_text(call.session, Named.SEGMENTS)
            unknown = (
                f"no segment named {excerpt(text)!r}; {names}; and not a query either: {error}"
            )
            raise QueryError(RuleError(unknown), text) from None
        raise QueryError(error, text) from None


async def _size_chart(call: Call, segment: Segment) -> None:
    sizes = await size_history(call.session, segment_id=segment.id)
    if not sizes:
        await call.reply("No size history yet: members are counted at each refresh.")
        return
    png = await charts.render(
        lambda: charts.line(
            f"Segment {segment.name}: members",
            [size.measured_at for size in sizes],
            [size.size for size in sizes],
            ylabel="members",
        )
    )
    await call.message.answer_photo(
        BufferedInputFile(png, filename="segment-size.png"),
        caption=f"{escape(segment.name)}: members at each refresh",
    )


async def _counted(call: Call, where: ColumnElement[bool]) -> int:
    """Subscribers `where` holds for (from the subscribers table: a rule of tags or
    segments alone names none of its columns)."""
    counted = select(func.count()).select_from(Subscriber).where(where)
    return int(await call.session.scalar(counted) or 0)


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a segment saved from the chat or the console, if it cannot."""
    if NAME_PATTERN.fullmatch(name):
        return None
    return (
        f"{excerpt(name)!r} cannot name a segment: use 1-64 ASCII letters, digits, _ . or - "
        "(the names the broadcast wizard offers and a campaign's segment: takes)."
    )


async def segment_save_command(call: Call) -> None:
    name, _, rule_text = call.args.partition(" ")
    rule_text = rule_text.strip()
    if not name or not rule_text:
        raise call.usage("Give a one-word name and a query.")
    if (problem := name_problem(name)) is not None:
        raise call.usage(problem)
    try:
        segment = await save_segment(
            call.session,
            name=name,
            rule_text=rule_text,
            now=call.clock(),
            owner=f"telegram:{call.admin.user_id}",
            rfm_segments=call.services.rfm_names,
        )
    except RuleError as error:
        raise QueryError(error, rule_text) from None
    rules = await saved_rules(call.session, rfm_segments=call.services.rfm_names)
    where = condition(rules[segment.name], now=call.clock(), segments=rules)
    size = await _counted(call, where)
    await call.reply(
        f"Saved {bold(segment.name)} (version {segment.version}): "
        f"{code(excerpt(segment.rule_text, ECHOED))}\n"
        f"{_match(size)} now; members update at the next refresh."
    )


def _match(count: int) -> str:
    return "1 subscriber matches" if count == 1 else f"{count:,} subscribers match"


async def segment_delete_command(call: Call) -> None:
    if not call.args:
        raise call.usage("Give the name of the segment to delete.")
    await delete_segment(call.session, name=call.args, rfm_segments=call.services.rfm_names)
    await call.reply(f"Deleted segment {bold(call.args)} with its history.")


async def rfm_command(call: Call) -> None:
    if call.args:
        raise call.usage("/rfm takes no arguments.")
    scores = await rfm_table(call.session)
    if scores.empty:
        customers = await customers_with_orders(call.session, as_of=call.clock().date())
        too_few = shortfall(customers, minimum=call.services.segments.rfm.min_customers)
        await call.reply(
            f"No RFM scores: {escape(str(too_few))} (rfm.min_customers in segbot.yaml)."
            if customers and too_few is not None
            else "No RFM scores yet: they are computed after each CRM sync (or segbot rfm)."
        )
        return
    counts = scores["segment"].value_counts()
    names = [name for name in call.services.rfm_names if counts.get(name, 0)]
    rows = [(name, int(counts[name]), percent(int(counts[name]), len(scores))) for name in names]
    as_of = scores["as_of"].iloc[0]
    await call.reply(
        f"{bold('RFM segments')} as of {as_of}: {len(scores):,} customers\n"
        f"{table(['segment', 'customers', 'share'], rows)}"
    )
    grid = pd.crosstab(scores["r"], scores["f"]).reindex(index=SCORES, columns=SCORES, fill_value=0)
    cells = [[int(value) for value in row] for row in grid.to_numpy()]
    png = await charts.render(
        lambda: charts.heatmap(
            "RFM: customers by recency and frequency",
            cells,
            rows=[f"R{score}" for score in SCORES],
            columns=[f"F{score}" for score in SCORES],
            row_label="recency score (5 = most recent)",
            column_label="frequency score",
        )
    )
    await call.message.answer_photo(BufferedInputFile(png, filename="rfm.png"), caption="R by F")


async def ladder_command(call: Call) -> None:
    if call.args:
        raise call.usage("/ladder takes no arguments.")
    counts = await ladder(call.session)
    rows = [
        (number, count.stage, count.subscribers, count.buyers)
        for number, count in enumerate(counts)
    ]
    await call.reply(
        f"{bold('Ladder of awareness')}\n{table(['#', 'stage', 'subscribers', 'buyers'], rows)}"
    )
    png = await charts.render(
        lambda: charts.bars(
            "Ladder of awareness",
            [count.stage for count in counts],
            [count.subscribers for count in counts],
            xlabel="subscribers",
            highlight=[count.buyers for count in counts],
            highlight_label="buyers",
        )
    )
    await call.message.answer_photo(BufferedInputFile(png, filename="ladder.png"), caption="Stages")


def _format_word(word: str) -> ExportFormat | None:
    return ExportFormat(word.lower()) if word.lower() in set(ExportFormat) else None


async def _export_args(call: Call) -> tuple[str, ExportFormat]:
    """`SEGMENT [hashed|ids]`. A segment's name may hold spaces (AI segments, lookalikes),
    so words a saved segment's name does not take must be one format: any other word is
    named back with the usage rather than read as part of a name no segment has."""
    words = call.args.split()
    if not words:
        raise call.usage("Give the segment to export.")
    names = set((await call.session.scalars(select(Segment.name))).all())
    chosen = _format_word(words[-1]) if len(words) > 1 else None
    if chosen is not None and " ".join(words[:-1]) in names:
        return " ".join(words[:-1]), chosen
    named = (end for end in range(len(words), 0, -1) if " ".join(words[:end]) in names)
    end = next(named, None)
    if end == len(words):
        return " ".join(words), ExportFormat.HASHED
    if end is not None:
        raise call.usage(_not_understood(" ".join(words[:end]), words[end:]))
    if chosen is None:  # no segment starts the words: the export names the one not found
        return " ".join(words), ExportFormat.HASHED
    return " ".join(words[:-1]), chosen


def _not_understood(segment: str, rest: list[str]) -> str:
    """What is wrong with the words after `segment`: the first is no format, or a format
    has more after it (a lone format would have been taken)."""
    after = _format_word(rest[0])
    if after is None:
        return (
            f"{excerpt(rest[0])!r} is not understood: after the segment {excerpt(segment)!r} "
            f"comes {' or '.join(sorted(ExportFormat))}, or nothing."
        )
    return f"{excerpt(rest[1])!r} is not understood: nothing comes after the format ({after})."


async def export_command(call: Call) -> None:
    name, export_format = await _export_args(call)
    out = io.StringIO()
    summary = await write_export(
        call.session,
        segment=name,
        export_format=export_format,
        out=out,
        now=call.clock(),
        region=call.services.crm.rules_for().default_region,
        rfm_segments=call.services.rfm_names,
    )
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    what = "Telegram ids" if export_format is ExportFormat.IDS else "SHA-256 of email and phone"
    left_out = summary.members - summary.rows
    await call.message.answer_document(
        BufferedInputFile(out.getvalue().encode(), filename=f"{safe}-{export_format.value}.csv"),
        caption=(
            f"{escape(name)}: {summary.rows:,} rows ({what}) of {summary.members:,} members"
            + (f"; {left_out:,} without phone or email left out" if left_out else "")
        ),
    )


COMMANDS = (
    AdminCommand(
        "segments",
        Permission.REPORTS,
        "/segments",
        "Saved segments and their sizes",
        segments_command,
    ),
    AdminCommand(
        "segment",
        Permission.REPORTS,
        "/segment NAME|QUERY",
        "Size, a sample of members and size over time, of a segment or a query",
        segment_command,
    ),
    AdminCommand(
        "segment_save",
        Permission.SEGMENTS,
        "/segment_save NAME QUERY",
        "Save a segment (its name: letters, digits, _ . or -) or a new version of it",
        segment_save_command,
    ),
    AdminCommand(
        "segment_delete",
        Permission.SEGMENTS,
        "/segment_delete NAME",
        "Delete a saved segment",
        segment_delete_command,
    ),
    AdminCommand(
        "rfm", Permission.REPORTS, "/rfm", "RFM segments and the R-by-F heatmap", rfm_command
    ),
    AdminCommand(
        "ladder", Permission.REPORTS, "/ladder", "Subscribers on each ladder stage", ladder_command
    ),
    AdminCommand(
        "export",
        Permission.SEGMENTS,
        "/export SEGMENT [hashed|ids]",
        "CSV of a segment: SHA-256 of email and phone for ad platforms (default), or Telegram ids",
        export_command,
    ),
)
