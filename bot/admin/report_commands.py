"""Reports: `/stats` (the audience at a glance, with a chart) and `/report ID` (a campaign's
funnel per segment and variant as a table, lift and A/B results in people with the test
used, a funnel chart, the funnel as CSV and, when there are any, the results as CSV).
The numbers come from broadcasts.reports; this module only presents them."""

import re
from collections import defaultdict
from html import escape

from aiogram.types import BufferedInputFile

from bot.admin import charts
from bot.admin.journey_report import SUBCOMMAND as JOURNEY
from bot.admin.journey_report import journey_report_command
from bot.admin.monospace import bold, percent, pieces, table
from bot.admin.permissions import Permission
from bot.admin.registry import AdminCommand, Call
from broadcasts.campaigns import UnknownCampaignError, get_campaign
from broadcasts.models import Campaign
from broadcasts.reports import (
    AudienceStats,
    CampaignReport,
    FunnelCounts,
    Lift,
    audience_stats,
    campaign_report,
    funnel_png,
    report_csv,
    results_csv,
)


def _stats_text(stats: AudienceStats) -> str:
    statuses = " · ".join(f"{status} {count:,}" for status, count in stats.by_status.items())
    growth = [(f"{g.days} days", g.joined, g.left, f"{g.net:+,}") for g in stats.growth]
    activity = " · ".join(f"{level} {count:,}" for level, count in stats.activity.items())
    sources = [(source, count, percent(count, stats.total)) for source, count in stats.sources]
    return "\n".join(
        [
            f"{bold('Audience')}: {stats.total:,} subscribers, {stats.active:,} active",
            escape(statuses),
            table(["period", "joined", "left", "net"], growth),
            f"Activity of active subscribers: {escape(activity)}",
            table(["source", "subscribers", "share"], sources) if sources else "No sources yet.",
        ]
    )


def _stats_png(stats: AudienceStats) -> bytes:
    parts: list[charts.Panel] = [
        ("Subscribers by status", list(stats.by_status), list(stats.by_status.values())),
        ("Activity (active subscribers)", list(stats.activity), list(stats.activity.values())),
    ]
    if stats.sources:
        parts.append(
            ("Where they came from", [s for s, _ in stats.sources], [n for _, n in stats.sources])
        )
    return charts.panels(f"Audience: {stats.total:,} subscribers", parts)


async def stats_command(call: Call) -> None:
    if call.args:
        raise call.usage("/stats takes no arguments.")
    stats = await audience_stats(call.session, now=call.clock())
    await call.reply(_stats_text(stats))
    png = await charts.render(lambda: _stats_png(stats))
    await call.message.answer_photo(
        BufferedInputFile(png, filename="audience.png"), caption="Audience"
    )


def _per_target(report: CampaignReport) -> dict[str, FunnelCounts]:
    """Every run added up, per target and variant."""
    totals: dict[str, FunnelCounts] = defaultdict(FunnelCounts)
    for row in report.rows:
        totals[f"{row.target}/{row.variant}"] += row.counts
    return dict(totals)


def _report_blocks(report: CampaignReport) -> list[str]:
    """The reply in blocks (the funnel; lift; each A/B result), packed into as few
    messages as fit."""
    rows = _per_target(report)
    delivery = [(key, c.targeted, c.sent, c.blocked, c.failed) for key, c in rows.items()]
    response = [
        (key, c.read, c.clicked, percent(c.clicked, c.sent), c.conversions, round(c.revenue, 2))
        for key, c in rows.items()
    ]
    money = f" ({', '.join(report.currencies)})" if report.currencies else ""
    title = f"Report: campaign #{report.campaign_id} {report.campaign}"
    if not rows:
        return [f"{bold(title)}: not sent yet, so there is nothing to count."]
    lines = [
        f"{bold(title)} — {report.runs} run(s)",
        table(["target/variant", "targeted", "sent", "blocked", "failed"], delivery),
        table(["target/variant", "read*", "clicked", "CTR", "conv", f"revenue{money}"], response),
        "* read is inferred: a click, button, reaction or reply after the message.",
    ]
    if report.window_open:
        lines.append(f"Conversions may still come: the window is {report.window.days} days.")
    if report.runs > 1 and (report.lift or report.ab):
        lines.append("Lift and A/B below count every run together; the results CSV has each run.")
    # Every run together only, to keep the reply short: the results CSV has each run too.
    lifts = [_lift_text(lift) for lift in report.lift if lift.run_id is None]
    tests = [
        escape("\n".join(result.lines()), quote=False)
        for result in report.ab
        if result.run_id is None
    ]
    return ["\n".join(lines), *(["\n".join(lifts)] if lifts else []), *tests]


def _lift_text(lift: Lift) -> str:
    groups = (
        f"messaged {lift.messaged_converted}/{lift.messaged} bought, "
        f"holdout {lift.holdout_converted}/{lift.holdout}"
    )
    text = f"Lift for {lift.target} ({lift.scope}), in people: {groups}"
    if lift.difference is not None and lift.significance is not None:
        low, high = lift.difference.low, lift.difference.high
        text += (
            f"; {100 * low:+.1f} to {100 * high:+.1f} points ({lift.confidence:.0%} interval),"
            f" {lift.significance.describe()}"
        )
    return escape(text, quote=False)


async def _campaign(call: Call, ref: str) -> Campaign:
    """The campaign `ref` names; `journey` alone, when no campaign has that name, is a
    journey's report without the journey's name."""
    try:
        return await get_campaign(call.session, ref=ref)
    except UnknownCampaignError:
        if ref != JOURNEY:
            raise
        raise call.usage(f"Give the journey's name: /report {JOURNEY} NAME.") from None


async def report_command(call: Call) -> None:
    if call.args.startswith(f"{JOURNEY} "):  # /report journey NAME: bot/admin/journey_report.py
        await journey_report_command(call, call.args.removeprefix(JOURNEY).strip())
        return
    ref = call.single(f"the campaign's id or name, or {JOURNEY} and the journey's name")
    campaign = await _campaign(call, ref)
    report = await campaign_report(
        call.session,
        campaign_id=campaign.id,
        now=call.clock(),
        window=call.services.reports.attribution_window,
    )
    for text in pieces(_report_blocks(report)):
        await call.reply(text)
    png = await charts.render(lambda: funnel_png(report))
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", report.campaign)
    await call.message.answer_photo(
        BufferedInputFile(png, filename=f"{safe}-funnel.png"),
        caption=f"Funnel of {escape(report.campaign)}",
    )
    await call.message.answer_document(
        BufferedInputFile(report_csv(report).encode(), filename=f"{safe}-report.csv"),
        caption="Every run, target and variant, as CSV",
    )
    if report.lift or report.ab:
        await call.message.answer_document(
            BufferedInputFile(results_csv(report).encode(), filename=f"{safe}-results.csv"),
            caption="Lift and A/B results in people, with the test used, as CSV",
        )


COMMANDS = (
    AdminCommand(
        "stats",
        Permission.REPORTS,
        "/stats",
        "Subscribers by status, growth, activity and sources, with a chart",
        stats_command,
    ),
    AdminCommand(
        "report",
        Permission.REPORTS,
        "/report ID|journey NAME",
        "A campaign's funnel per segment and variant, lift and A/B results: table, chart, CSV",
        report_command,
    ),
)
