"""`segbot campaign ...`: save campaigns from YAML, look at them, clone, preview, test-send,
send, pause, resume and cancel; list a run's unknown deliveries and, once confirmed, resend them.
Sending is done by `segbot run` (its delivery worker), or by `send-now` itself when no
sender is running (cli/sending.py); `test-send` says each answer in words (cli/trial_send.py).

Results go to stdout; errors are one line on stderr, exit 2 for bad input and 1 when the
command could not do its work (a name nothing has, a message not sent, the database).
"""

import sys
import textwrap
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.campaigns import get_campaign, list_campaigns, save_campaign
from broadcasts.cloning import clone_campaign
from broadcasts.config import BroadcastsConfig
from broadcasts.models import Campaign, Run, RunStatus, ScheduleKind, Variant
from broadcasts.runs import cancel, latest_run, pause, progress, resume
from broadcasts.spec import parse_campaign
from broadcasts.unknowns import (
    UnknownSummary,
    counted,
    resend_unknown,
    unknown_counts,
    unknowns,
    unknowns_csv,
)
from broadcasts.uploads import FileIds
from cli import sending
from cli.execution import (
    EXIT_FAILURE,
    config_or_exit,
    execute,
    fail,
    on_database,
    settings_or_exit,
    text_or_exit,
)
from cli.tables import FittedTable, SafeConsole
from cli.trial_send import refuse_who_left, send_trial
from core.clock import utcnow
from core.errors import SegbotError
from core.ids import MAX_ID
from core.settings import Settings

T = TypeVar("T")
EXCERPT = 60  # characters of a message's text a table shows

app = typer.Typer(
    help=(
        "Campaigns: create from YAML, list, show, clone, preview, test-send, send, pause, "
        "cancel; list and resend a run's unknown deliveries."
    ),
    no_args_is_help=True,
    add_completion=False,
)
out = SafeConsole(highlight=False)
err = SafeConsole(stderr=True, highlight=False)
CampaignRef = Annotated[str, typer.Argument(help="The campaign's id or name.")]
RunId = Annotated[
    int,
    typer.Argument(
        min=1, max=MAX_ID, help="The run's id (`segbot campaign show` names the latest run)."
    ),
]


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
    file: Annotated[
        Path, typer.Argument(help="The campaign YAML file.", exists=True, dir_okay=False)
    ],
) -> None:
    """Check and save a campaign; a bad template, segment or rule saves nothing."""
    text = text_or_exit(file)
    try:
        spec = parse_campaign(text, source=str(file), base=file.resolve().parent)
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
        table = FittedTable("id", "name", "status", "goal", "schedule", key=2)
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
    if campaign.local_time and campaign.schedule_day:
        return f"local {campaign.local_time} on {campaign.schedule_day}"
    if campaign.schedule_kind is ScheduleKind.BEST_HOUR and campaign.schedule_day:
        return f"best hour on {campaign.schedule_day}"
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
        table = FittedTable("target", "audience", "variant", "split", "message")
        for target in campaign.targets:
            audience = target.segment or target.rule_text or "everyone else"
            for variant in target.variants:
                table.add_row(
                    target.label, audience, variant.name,
                    f"{variant.split_percent}%",
                    _message(variant, campaign.language),
                )  # fmt: skip
        out.print(table)
        if state is None:
            out.print(f"no run yet (segbot campaign send-now {campaign.name} sends it now)")
        else:
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


def _message(variant: Variant, language: str) -> str:
    """A variant in a table cell: its kind and languages, then the start of its text (cut
    at a word, with an ellipsis, when it is longer)."""
    kind = variant.kind if variant.kind != "album" else f"album of {len(variant.media)}"
    languages = ", ".join([language, *sorted(variant.translations)])
    head = f"[{kind}; {languages}] " if variant.translations else f"[{kind}] "
    return head + textwrap.shorten(variant.body, width=EXCERPT, placeholder=" …")


@app.command()
def clone(
    ref: CampaignRef,
    name: Annotated[str, typer.Argument(metavar="NEW_NAME", help="The copy's name.")],
) -> None:
    """Copy a campaign under a new name: its audience, messages and limits, as a draft
    (its schedule is not copied: send it with send-now, or save a file under its name)."""

    async def work(sessionmaker: async_sessionmaker[AsyncSession], *_: object) -> None:
        async with sessionmaker() as session:
            copy = await clone_campaign(session, ref=ref, name=name, now=utcnow())
        out.print(
            f"cloned {ref} as campaign {copy.id} {copy.name}: draft "
            f"(segbot campaign send-now {copy.name} sends it)"
        )

    _run(work)


@app.command()
def preview(
    ref: CampaignRef,
    subscriber: Annotated[
        str | None,
        typer.Option(
            metavar="WHO",
            help="Only this person's message, and why: id, tg:TELEGRAM_ID or @username.",
        ),
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(
            min=1, max=50, metavar="N", help="The messages of N random members of each target."
        ),
    ] = None,
) -> None:
    """Each message as Telegram shows it, for real subscribers, and why they get it.

    Buttons beneath, the Unsubscribe button too; which target and variant each person
    gets, or why nothing (holdout, frequency cap, not active). Default: every variant of
    each target, for a random member of it. Links are shown untracked. Exit 1 if a
    message cannot be rendered for someone (the sender would skip them)."""
    from cli.campaign_preview import Previewer

    if subscriber is not None and sample is not None:
        fail("give --subscriber or --sample, not both")

    async def work(
        sessionmaker: async_sessionmaker[AsyncSession], _: Settings, config: _Config
    ) -> None:
        async with sessionmaker() as session:
            previewer = await Previewer.of(session, out, ref=ref, rfm=config.rfm_segments)
            if subscriber is not None:
                await previewer.subscriber(subscriber)
            elif sample is not None:
                await previewer.sample(sample)
            else:
                await previewer.every_variant()
        if previewer.unrenderable:
            fail(
                f"{previewer.unrenderable} message(s) cannot be rendered for their subscriber: "
                "the sender would skip them",
                EXIT_FAILURE,
            )

    _run(work)


def _a_chat(chat: int) -> int:
    """--to as a chat id: 0 names no chat, and Telegram would only answer "chat not found"
    after the command had looked everything up (the range keeps it within a BIGINT, which
    the database compares it with)."""
    if chat == 0:
        raise typer.BadParameter("0 is no chat: give your Telegram user id (a group's is negative)")
    return chat


@app.command(name="test-send")
def test_send(
    ref: CampaignRef,
    to: Annotated[
        int,
        typer.Option(
            "--to",
            min=-MAX_ID,
            max=MAX_ID,
            callback=_a_chat,
            help="Your Telegram user id: only you get it.",
        ),
    ],
) -> None:
    """Send every variant, rendered for a sample subscriber, to one chat (SEGBOT_BOT_TOKEN).

    Waits when Telegram asks to (flood control); says why any message was not sent, and
    then exits 1. The chat must have started the bot; one of a subscriber who has since
    unsubscribed or blocked it is refused (exit 1)."""

    async def work(
        sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, _: _Config
    ) -> None:
        async with sessionmaker() as session:
            campaign = await get_campaign(session, ref=ref)
            await refuse_who_left(session, to=to)
        files = FileIds(sessionmaker)
        failed, total = await send_trial(
            campaign, to=to, settings=settings, files=files, say=_say, note=_note
        )
        if failed:
            fail(f"{failed} of {total} messages not sent to {to}", EXIT_FAILURE)

    _run(work)


def _say(line: str) -> None:
    out.print(line, markup=False)


def _note(line: str) -> None:
    err.print(line, markup=False)


@app.command(name="send-now")
def send_now(
    ref: CampaignRef,
    wait: Annotated[
        bool,
        typer.Option(
            help="Follow the run with a progress bar, sending it from here if no sender "
            "runs; --no-wait only queues it for `segbot run`."
        ),
    ] = True,
) -> None:
    """Send the campaign now: a running `segbot run` sends it, else this command does
    (SEGBOT_BOT_TOKEN, SEGBOT_SECRET_KEY), with a progress bar. A run still sending is
    carried on, not started again. Exits 1 if nothing could be sent."""

    async def work(
        sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, config: _Config
    ) -> None:
        how = sending.SendNow(settings, config.broadcasts, config.rfm_segments, wait, out, err)
        await sending.send_now(sessionmaker, ref=ref, how=how)

    _run(work)


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
            cancelled = await cancel(session, campaign=campaign, now=utcnow())
        out.print(f"{campaign.name} cancelled; {cancelled}")

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
        table = FittedTable(
            "subscriber", "telegram id", "name", "status now", "message", "reason",
            "claimed at (UTC)", "resend",
        )  # fmt: skip
        for row in found.deliveries:
            table.add_row(
                str(row.subscriber_id), str(row.telegram_id), row.name,
                row.subscriber_status.value, f"{row.target}/{row.variant}", row.reason,
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
