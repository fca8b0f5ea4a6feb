"""`segbot journey ...`: save journeys from YAML (again: a new version), list and show them,
pause, resume and archive them, enrol a saved segment by hand, and simulate one
subscriber's way through one on a throwaway copy of the database.

Journeys run inside `segbot run` (its scheduler role). Changes are audited as the
command line's (`journeys.store.CLI_ACTOR`). Results go to stdout; errors are one line on
stderr, exit 2 for bad input and 1 when the command could not do its work.
"""

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import AppConfig
from cli.execution import (
    config_or_exit,
    execute,
    fail,
    on_database,
    settings_or_exit,
    text_or_exit,
)
from cli.journey_simulate import simulate_command
from cli.tables import FittedTable, SafeConsole
from core.clock import utcnow
from core.errors import SegbotError
from core.settings import Settings
from journeys.manual import enroll_segment
from journeys.models import EnrolmentStatus, JourneyStatus
from journeys.spec import JourneySpec, parse_journey
from journeys.status import journey_state, state_of
from journeys.store import CLI_ACTOR, list_journeys, save_journey, set_status
from journeys.triggers_spec import span_text

T = TypeVar("T")

app = typer.Typer(
    help=(
        "Journeys: message sequences a trigger starts; create from YAML (again: a new "
        "version), list, show, pause, resume, archive, enroll a segment, simulate one "
        "subscriber."
    ),
    no_args_is_help=True,
    add_completion=False,
)
out = SafeConsole(highlight=False)
Name = Annotated[str, typer.Argument(help="The journey's name.")]
Sessions = async_sessionmaker[AsyncSession]


def _run(work: Callable[[Sessions, Settings, AppConfig], Awaitable[T]]) -> T:
    settings = settings_or_exit()
    config = config_or_exit(settings)
    return execute(on_database(settings, lambda sessions: work(sessions, settings, config)))


@app.command()
def create(
    file: Annotated[
        Path, typer.Argument(help="The journey YAML file.", exists=True, dir_okay=False)
    ],
    move: Annotated[
        bool,
        typer.Option(
            "--move",
            help=(
                "People inside an earlier version go on in this one at the step with the "
                "same id (else they finish the version they entered)."
            ),
        ),
    ] = False,
) -> None:
    """Check and save a journey (live at once); saving one that exists makes a new version."""
    text = text_or_exit(file)
    try:
        spec = parse_journey(text, source=str(file), base=file.parent)
    except SegbotError as error:
        fail(str(error))

    async def work(sessionmaker: Sessions, settings: Settings, config: AppConfig) -> None:
        async with sessionmaker() as session:
            saved = await save_journey(
                session, spec=spec, source=text, now=utcnow(), actor=CLI_ACTOR,
                public_url=settings.public_url, rfm_segments=config.rfm_names, move=move,
            )  # fmt: skip
        journey = saved.journey
        out.print(f"saved journey {journey.name} version {journey.version}: {journey.status.value}")
        if move:
            out.print(f"moved {saved.moved} people inside to version {journey.version}")

    _run(work)


@app.command(name="list")
def list_command() -> None:
    """Every journey: status, version, trigger, people inside and entered."""

    async def work(sessionmaker: Sessions, *_: object) -> None:
        async with sessionmaker() as session:
            states = [await state_of(session, journey) for journey in await list_journeys(session)]
        table = FittedTable("name", "status", "version", "trigger", "inside", "entered")
        for state in states:
            journey = state.journey
            table.add_row(
                journey.name, journey.status.value, str(journey.version),
                state.spec.trigger.describe(), str(state.inside), str(state.entered),
            )  # fmt: skip
        out.print(table if states else "no journeys yet: segbot journey create FILE.yaml")

    _run(work)


@app.command()
def show(name: Name) -> None:
    """A journey's trigger, entry, goal and steps, and where its people are.

    For each step: how many people are at it now, and how many it has happened to."""

    async def work(sessionmaker: Sessions, *_: object) -> None:
        async with sessionmaker() as session:
            state = await journey_state(session, name=name)
        journey, spec = state.journey, state.spec
        out.print(f"{journey.name} ({journey.status.value}), version {journey.version}")
        _print_rules(spec)
        people = (f"{status.value} {state.people.get(status, 0)}" for status in EnrolmentStatus)
        out.print("people: " + ", ".join(people))
        table = FittedTable("step", "does", "then", "here now", "happened")
        for step in spec.steps:
            table.add_row(
                step.id, step.describe(), spec.where_next(step.id),
                str(state.here.get(step.id, 0)), str(state.happened.get(step.id, 0)),
            )  # fmt: skip
        out.print(table)

    _run(work)


def _print_rules(spec: JourneySpec) -> None:
    entry = spec.entry
    reentry = (
        entry.reentry if isinstance(entry.reentry, str) else f"once per {span_text(entry.reentry)}"
    )
    out.print(f"trigger: {spec.trigger.describe()}")
    out.print(f"entry: {entry.rule or 'anyone'}; re-entry {reentry}; holdout {spec.holdout}%")
    if spec.goal is not None:
        out.print(f"goal: {spec.goal.describe()} within {span_text(spec.goal.within)}")


def _status_command(status: JourneyStatus, done: str) -> Callable[[str], None]:
    def command(name: Name) -> None:
        async def work(sessionmaker: async_sessionmaker[AsyncSession], *_: object) -> None:
            async with sessionmaker() as session:
                ended = await set_status(
                    session, name=name, status=status, now=utcnow(), actor=CLI_ACTOR
                )
            out.print(
                f"journey {name} {done}" + (f"; {ended} people inside left it" if ended else "")
            )

        _run(work)

    return command


_STATUS_COMMANDS = (
    ("pause", JourneyStatus.PAUSED, "paused",
     "Pause: nobody enters, nobody moves on (goals and /stop still end enrolments)."),
    ("resume", JourneyStatus.LIVE, "resumed",
     "Resume a paused journey: steps that came due meanwhile happen now."),
    ("archive", JourneyStatus.ARCHIVED, "archived",
     "Archive, for good: everyone inside leaves it (exit reason archived)."),
)  # fmt: skip
for _name, _status, _done, _help in _STATUS_COMMANDS:
    app.command(name=_name, help=_help)(_status_command(_status, _done))


@app.command()
def enroll(
    name: Name,
    segment: Annotated[str, typer.Argument(help="The saved segment whose members enter.")],
) -> None:
    """Put a saved segment's members into the journey now.

    Its entry rule, re-entry policy and holdout apply, as for any trigger."""

    async def work(
        sessionmaker: async_sessionmaker[AsyncSession], _: Settings, config: AppConfig
    ) -> None:
        async with sessionmaker() as session:
            entered = await enroll_segment(
                session, name=name, segment=segment, now=utcnow(), actor=CLI_ACTOR,
                rfm_segments=config.rfm_names,
            )  # fmt: skip
        out.print(f"{entered.entered} entered journey {name}, {entered.holdout} as the holdout")

    _run(work)


app.command(name="simulate")(simulate_command)
