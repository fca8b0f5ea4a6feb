"""`segbot campaign ...`: save campaigns from YAML, look at them, preview, test-send, send,
pause, resume and cancel; list a run's unknown deliveries and, once confirmed, resend them.
Sending itself is done by `segbot run` (its delivery worker); `send-now` plans the run and
follows it with a progress bar.

Results go to stdout; errors are one line on stderr, exit 2 for bad input and 1 when the
database cannot be used.
"""

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.messenger import TelegramMessenger
from broadcasts.campaigns import get_campaign, list_campaigns, save_campaign
from broadcasts.compose import subscriber_context
from broadcasts.config import BroadcastsConfig
from broadcasts.messenger import Button, OutgoingMessage, Sent
from broadcasts.models import Campaign, DeliveryStatus, Run, RunStatus, ScheduleKind
from broadcasts.planner import plan_run
from broadcasts.runs import cancel, latest_run, pause, progress, resume
from broadcasts.spec import parse_campaign
from broadcasts.templates import SAMPLE, compile_template, render
from broadcasts.unknowns import (
    UnknownSummary,
    counted,
    resend_unknown,
    unknown_counts,
    unknowns,
    unknowns_csv,
)
from cli.execution import (
    EXIT_FAILURE,
    config_or_exit,
    execute,
    fail,
    on_database,
    settings_or_exit,
)
from core.clock import utcnow
from core.errors import SegbotError
from core.settings import Settings

T = TypeVar("T")

app = typer.Typer(
    help=(
        "Campaigns: create from YAML, list, show, preview, test-send, send, pause, cancel; "
        "list and resend a run's unknown deliveries."
    ),
    no_args_is_help=True,
    add_completion=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
CampaignRef = Annotated[str, typer.Argument(help="The campaign's id or name.")]
RunId = Annotated[
    int, typer.Argument(help="The run's id (`segbot campaign show` names the latest run).")
]
FINISHED = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.BLOCKED)


@dataclass(frozen=True, slots=True)
class _Config:
    """What campaign commands need of segbot.yaml."""

    rfm_segments: tuple[str, ...]
    broadcasts: BroadcastsConfig


def _run(
    work: Callable[[async_sessionmaker[AsyncSession], Settings, _Config], Awaitable[T]],
) -> T:
    settings = settings_or_exit()
    loaded = config_or_exit(settings)
    config = _Config(rfm_segments=loaded.rfm_names, broadcasts=loaded.broadcasts)
    return execute(on_database(settings, lambda sessions: work(sessions, settings, config)))


@app.command()
def create(
    file: Annotated[Path, typer.Argument(help="The campaign YAML file.", exists=True)],
) -> None:
    """Check and save a campaign; a bad template, segment or rule saves nothing."""
    try:
        spec = parse_campaign(file.read_text(encoding="utf-8"), source=str(file))
    except SegbotError as error:
        fail(str(error))

    async def work(
        sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, config: _Config
    ) -> None:
        async with sessionmaker() as session:
            campaign = await save_campaign(
                session, spec=spec, now=utcnow(), public_url=settings.public_url,
                rfm_segments=config.rfm_segments,
                paid_broadcasts=config.broadcasts.paid_broadcasts.enabled,
            )  # fmt: skip
        out.print(f"saved campaign {campaign.id} {campaign.name}: {campaign.status.value}")

    _run(work)


@app.command(name="list")
def list_command() -> None:
    """Every campaign with its status and schedule."""

    async def work(sessionmaker: async_sessionmaker[AsyncSession], *_: object) -> None:
        async with sessionmaker() as session:
            campaigns = await list_campaigns(session)
        table = Table("id", "name", "status", "goal", "schedule")
        for campaign in campaigns:
            table.add_row(
                str(campaign.id), campaign.name, campaign.status.value, campaign.goal.value,
                _schedule(campaign),
            )  # fmt: skip
        out.print(table if campaigns else "no campaigns yet: segbot campaign create FILE.yaml")

    _run(work)


def _schedule(campaign: Campaign) -> str:
    kind = campaign.schedule_kind.value
    if campaign.cron:
        return f"cron {campaign.cron} ({campaign.schedule_timezone})"
    if campaign.local_time and campaign.run_at:
        return f"local {campaign.local_time} on {campaign.run_at.date()}"
    if campaign.schedule_kind is ScheduleKind.BEST_HOUR and campaign.run_at:
        return f"best hour on {campaign.run_at.date()}"
    if campaign.run_at:
        return f"at {campaign.run_at:%Y-%m-%d %H:%M} UTC"
    return kind


@app.command()
def show(ref: CampaignRef) -> None:
    """A campaign's targets and variants, and its latest run's progress."""

    async def work(sessionmaker: async_sessionmaker[AsyncSession], *_: object) -> None:
        async with sessionmaker() as session:
            campaign = await get_campaign(session, ref=ref)
            run = await latest_run(session, campaign_id=campaign.id)
            state = None if run is None else await progress(session, run_id=run.id)
            unknown = {} if run is None else await unknown_counts(session, run_id=run.id)
        out.print(f"{campaign.name} ({campaign.status.value}), goal {campaign.goal.value}")
        out.print(f"schedule: {_schedule(campaign)}; holdout {campaign.holdout_percent}%")
        table = Table("target", "audience", "variant", "split", "message")
        for target in campaign.targets:
            audience = target.segment or target.rule_text or "everyone else"
            for variant in target.variants:
                table.add_row(
                    target.label, audience, variant.name, f"{variant.split_percent}%",
                    variant.body[:60],
                )  # fmt: skip
        out.print(table)
        if state is not None:
            counts = ", ".join(f"{s.value} {n}" for s, n in sorted(state.counts.items()))
            out.print(f"run {state.run_id} ({state.status.value}): {counts}")
            if state.excluded:
                out.print("excluded: " + ", ".join(f"{r} {n}" for r, n in state.excluded.items()))
            if unknown:
                out.print(
                    f"unknown {sum(unknown.values())} (may or may not have arrived): "
                    f"{counted(unknown)}; segbot campaign unknown {state.run_id} lists them"
                )

    _run(work)


@app.command()
def preview(
    ref: CampaignRef,
    subscriber: Annotated[
        int | None, typer.Option(help="Subscriber id (default: a sample).")
    ] = None,
) -> None:
    """Every variant rendered for one subscriber (links shown untracked)."""

    async def work(sessionmaker: async_sessionmaker[AsyncSession], *_: object) -> None:
        async with sessionmaker() as session:
            campaign = await get_campaign(session, ref=ref)
            context = SAMPLE
            if subscriber is not None:
                found = await subscriber_context(
                    session, subscriber_id=subscriber, campaign=campaign
                )
                if found is None:
                    raise SegbotError(f"no subscriber {subscriber}")
                context = found
        for target in campaign.targets:
            for variant in target.variants:
                text = render(compile_template(variant.body), context)
                photo = f" [photo {variant.photo}]" if variant.photo else ""
                out.print(f"-- {target.label}/{variant.name}{photo}\n{text}")

    _run(work)


@app.command(name="test-send")
def test_send(
    ref: CampaignRef,
    to: Annotated[int, typer.Option("--to", help="Your Telegram user id: only you get it.")],
) -> None:
    """Send every variant, rendered for a sample subscriber, to one chat (SEGBOT_BOT_TOKEN)."""

    async def work(
        sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, _: _Config
    ) -> None:
        async with sessionmaker() as session:
            campaign = await get_campaign(session, ref=ref)
        async with TelegramMessenger.from_settings(settings) as messenger:
            for target in campaign.targets:
                for variant in target.variants:
                    message = OutgoingMessage(
                        chat_id=to,
                        text=render(compile_template(variant.body), SAMPLE),
                        photo=variant.photo,
                        buttons=tuple(Button(**button) for button in variant.buttons),
                    )
                    outcome = await messenger.send(message)
                    verdict = "sent" if isinstance(outcome, Sent) else f"not sent: {outcome}"
                    out.print(f"{target.label}/{variant.name}: {verdict}")

    _run(work)


@app.command(name="send-now")
def send_now(
    ref: CampaignRef,
    wait: Annotated[bool, typer.Option(help="Follow the run with a progress bar.")] = True,
) -> None:
    """Start a run now; `segbot run` sends it. Ctrl-C stops watching, not sending."""

    async def work(
        sessionmaker: async_sessionmaker[AsyncSession], _: Settings, config: _Config
    ) -> None:
        async with sessionmaker() as session:
            campaign = await get_campaign(session, ref=ref)
            plan = await plan_run(
                session, campaign=campaign, now=utcnow(), rfm_segments=config.rfm_segments,
                best_hour=config.broadcasts.best_hour,
            )  # fmt: skip
        excluded = ", ".join(f"{reason} {n}" for reason, n in plan.excluded.items()) or "none"
        queued = f"{plan.queued} to send ({plan.postponed} later)"
        out.print(f"run {plan.run.id}: {queued}; excluded: {excluded}")
        for label, best in plan.best_hours.items():
            why = "too little engagement: fallback" if best.fallback else f"{best.events} events"
            out.print(f"{label}: best hour {best.hour:02d}:00 local ({why})")
        if wait:
            await _follow(sessionmaker, plan.run.id)

    _run(work)


async def _follow(sessionmaker: async_sessionmaker[AsyncSession], run_id: int) -> None:
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=err) as bar:
        task = bar.add_task("sending", total=None, rate="")
        while True:
            async with sessionmaker() as session:
                state = await progress(session, run_id=run_id)
            done = state.to_send - state.pending
            rate = f"{state.per_second:.1f}/s" if state.per_second else ""
            bar.update(task, total=state.to_send, completed=done, rate=rate)
            if state.status is not RunStatus.SENDING or state.pending == 0:
                break
            await asyncio.sleep(0.5)
    counts = ", ".join(f"{s.value} {state.count(s)}" for s in (*FINISHED, DeliveryStatus.UNKNOWN))
    out.print(f"run {run_id} {state.status.value}: {counts}")


@app.command(name="pause")
def pause_command(ref: CampaignRef) -> None:
    """Pause the campaign's run (within a second); resume sends the rest."""
    _switch_run(ref, pause, "paused")


@app.command(name="resume")
def resume_command(ref: CampaignRef) -> None:
    """Resume a paused run."""
    _switch_run(ref, resume, "resumed")


def _switch_run(ref: str, switch: Callable[..., Awaitable[Run]], done: str) -> None:
    async def work(sessionmaker: async_sessionmaker[AsyncSession], *_: object) -> None:
        async with sessionmaker() as session:
            campaign = await get_campaign(session, ref=ref)
            run = await switch(session, campaign=campaign, now=utcnow())
        out.print(f"run {run.id} of {campaign.name} {done}")

    _run(work)


@app.command(name="cancel")
def cancel_command(ref: CampaignRef) -> None:
    """Cancel the campaign: its schedule and whatever its run has not sent yet."""

    async def work(sessionmaker: async_sessionmaker[AsyncSession], *_: object) -> None:
        async with sessionmaker() as session:
            campaign = await get_campaign(session, ref=ref)
            dropped = await cancel(session, campaign=campaign, now=utcnow())
        out.print(f"{campaign.name} cancelled; {dropped} queued messages will not be sent")

    _run(work)


@app.command(name="unknown")
def unknown_command(
    run_id: RunId,
    csv: Annotated[
        Path | None,
        typer.Option("--csv", help="Write them as CSV to this file instead (- for stdout)."),
    ] = None,
) -> None:
    """Who the run's unknown deliveries were for (may or may not have arrived), and why."""

    async def work(sessionmaker: async_sessionmaker[AsyncSession], *_: object) -> None:
        async with sessionmaker() as session:
            found = await unknowns(session, run_id=run_id)
        if csv is not None:
            text = unknowns_csv(found.deliveries)
            if str(csv) == "-":
                sys.stdout.write(text)
                return
            csv.write_text(text, encoding="utf-8")
            out.print(f"wrote {csv}: {len(found.deliveries)} unknown deliveries of run {run_id}")
            return
        out.print(f"run {run_id} of {found.campaign_name} ({found.run_status.value})")
        if not found.deliveries:
            out.print("no unknown deliveries")
            return
        table = Table(
            "subscriber", "telegram id", "name", "status now", "message", "reason",
            "claimed at (UTC)", "resend",
        )  # fmt: skip
        for row in found.deliveries:
            table.add_row(
                str(row.subscriber_id), str(row.telegram_id), escape(row.name),
                row.subscriber_status.value, escape(f"{row.target}/{row.variant}"), row.reason,
                _moment(row.claimed_at), "yes" if row.skip is None else f"no: {row.skip}",
            )  # fmt: skip
        out.print(table)
        out.print(_summary(found.summary))
        if found.summary.resendable:
            out.print(f"segbot campaign resend-unknown {run_id} resends to them")

    _run(work)


@app.command(name="resend-unknown")
def resend_unknown_command(
    run_id: RunId,
    yes: Annotated[
        bool,
        typer.Option("--yes", help="Resend without asking: some may get the message twice."),
    ] = False,
) -> None:
    """Resend to the run's unknown deliveries, once confirmed: some may get it twice.

    They go back in the queue and the run reopens if it had finished (`segbot run` sends).
    Skipped: who has since unsubscribed, blocked the bot or clicked the message's link.
    Only a campaign's latest run, never a cancelled one."""
    if not yes and not _interactive():
        fail(
            "resend-unknown asks for confirmation (some may get the message twice): "
            "run it in a terminal, or pass --yes"
        )

    async def work(sessionmaker: async_sessionmaker[AsyncSession], *_: object) -> None:
        async with sessionmaker() as session:
            found = await unknowns(session, run_id=run_id, limit=0)
        summary = found.summary
        out.print(f"run {run_id} of {found.campaign_name} ({found.run_status.value})")
        out.print(_summary(summary))
        if summary.resendable:
            out.print(
                "Telegram may already have delivered the message to "
                + ("this person" if summary.resendable == 1 else "some of these people")
                + ": they would get it twice."
            )
            if not yes and not typer.confirm(f"Resend to {summary.resendable}?", err=True):
                err.print("nothing resent")
                raise typer.Exit(EXIT_FAILURE)
        async with sessionmaker() as session:  # not held open while the person decides
            resent = await resend_unknown(
                session, run_id=run_id, now=utcnow(), expected=summary.resendable
            )
        after = {
            RunStatus.SENDING: "segbot run sends them",
            RunStatus.PAUSED: "the run is paused: they go when you resume it",
        }.get(resent.run_status, resent.run_status.value)
        reopened = ", the run is sending again" if resent.reopened else ""
        out.print(f"queued {resent.requeued} again{reopened}; {after}")

    _run(work)


def _interactive() -> bool:
    return sys.stdin.isatty()


def _summary(summary: UnknownSummary) -> str:
    line = f"unknown {summary.total}: {counted(summary.by_reason)}"
    if summary.skipped:
        line += f"; not to resend: {counted(summary.skipped)}"
    return line + f"; to resend: {summary.resendable}"


def _moment(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S}"
