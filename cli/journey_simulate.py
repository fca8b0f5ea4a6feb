"""`segbot journey simulate NAME WHO`: one subscriber walked through a journey on a
throwaway copy of the database (cli/rehearsal_database.py), printed step by step
(journeys.simulate does the walking)."""

import secrets
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.sender import SenderSettings
from cli.execution import config_or_exit, execute, on_database_at, settings_or_exit
from cli.rehearsal_database import throwaway_database
from cli.subscribers import subscriber_or_exit
from cli.tables import SafeConsole
from core.clock import utcnow
from core.subscriber_search import describe
from journeys.models import JourneyStatus
from journeys.simulate import Simulation, simulate

out = SafeConsole(highlight=False)


def simulate_command(
    name: Annotated[str, typer.Argument(help="The journey's name.")],
    who: Annotated[str, typer.Argument(help="The subscriber: id, tg:TELEGRAM_ID or @username.")],
    scratch_database: Annotated[
        str | None,
        typer.Option(
            "--scratch-database",
            help=(
                "Simulate on this database, a copy you may throw away (it is changed), not "
                "on a copy of SEGBOT_DATABASE_URL. Needed with PostgreSQL."
            ),
        ),
    ] = None,
) -> None:
    """Walk one subscriber through the journey, on a fast clock and a throwaway database.

    Each step, when it would happen, and each message as it would be sent. Nothing is
    written to SEGBOT_DATABASE_URL and nothing is sent. They enter whatever the entry
    rule, re-entry policy and holdout say (the entry rule's verdict is printed); what a
    wait_for step waits for does not happen, so its time runs out."""
    settings = settings_or_exit()
    config = config_or_exit(settings)
    # Signed with a throwaway key: a simulated message's link never counts as a click.
    sender = SenderSettings(public_url=settings.public_url, secret=secrets.token_hex(16))

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[str, Simulation]:
        async with sessionmaker() as session:
            subscriber = await subscriber_or_exit(session, who)
        result = await simulate(
            sessionmaker, name=name, subscriber_id=subscriber.id, start=utcnow(),
            settings=sender, rfm_segments=config.rfm_names,
        )  # fmt: skip
        return describe(subscriber), result

    with throwaway_database(settings, scratch_database) as url:
        person, result = execute(on_database_at(url, work, upgrade_in_place=True))
    _print_simulation(name, person, result)


def _print_simulation(name: str, person: str, result: Simulation) -> None:
    out.print(f"journey {name} for {person} (simulated: nothing is sent)")
    if result.status is not JourneyStatus.LIVE:
        out.print(f"the journey is {result.status.value}: walked through as if it were live")
    if not result.rule_holds:
        out.print(
            "the entry rule does not hold for them now: they would not enter; as if they did:"
        )
    if not result.entered:
        out.print("they are not an active subscriber: they cannot enter")
        return
    for step in result.steps:
        out.print(f"{step.at:%Y-%m-%d %H:%M} UTC  {step.step}  {step.action}: {step.outcome}")
        if step.message is not None:
            out.print("    " + step.message.text.replace("\n", "\n    "))
    if result.stuck is not None:
        out.print(f"stopped: {result.stuck}")
        return
    out.print(
        f"ends: {result.ended}" if result.ended else "still inside when the simulation stopped"
    )
