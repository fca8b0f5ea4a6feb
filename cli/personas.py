"""`segbot personas list|create|from-segment`: personas from the command line.

Results go to stdout; errors are one line on stderr, exit 2 for bad input and 1 when the
database cannot be used (cli.execution).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.execution import config_or_exit, execute, fail, on_database, settings_or_exit
from cli.tables import FittedTable, SafeConsole
from core.clock import utcnow

if TYPE_CHECKING:  # the domain modules load only when a command runs
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

app = typer.Typer(
    help="Personas: actionable profiles a campaign can target (up to 5).",
    no_args_is_help=True,
    add_completion=False,
)
out = SafeConsole(highlight=False)
FORMATS = ("short_video", "carousel", "live", "text")


@app.command(name="list")
def list_command() -> None:
    """Every persona with its audience, problem, format, tone and offer."""
    from segments.ai.personas import list_personas

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        async with sessionmaker() as session:
            personas = await list_personas(session)
        table = FittedTable("name", "audience", "main problem", "format", "tone", "best offer")
        for persona in personas:
            audience = persona.rule_text or persona.source_segment or "-"
            if persona.rule_text is None and persona.segment_id is None:
                audience += " (removed)"
            table.add_row(
                persona.name, audience, persona.main_problem,
                persona.preferred_format.value, persona.tone, persona.best_offer,
            )  # fmt: skip
        out.print(table if personas else "no personas yet: segbot personas from-segment SEGMENT")

    execute(on_database(settings_or_exit(), work))


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="The persona's name.")],
    problem: Annotated[str, typer.Option("--problem", help="Their main problem.")],
    offer: Annotated[str, typer.Option("--offer", help="The best offer for them.")],
    example: Annotated[str, typer.Option("--example", help="An example customer.")],
    segment: Annotated[str | None, typer.Option("--segment", help="Their segment.")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="Or their own rule.")] = None,
    content_format: Annotated[
        str, typer.Option("--format", help=f"One of {', '.join(FORMATS)}.")
    ] = "text",
    tone: Annotated[str, typer.Option("--tone", help="How to talk to them.")] = "friendly",
) -> None:
    """Create a persona by hand, for a segment (--segment) or a rule (--rule)."""
    from segments.ai.personas import create_persona
    from segments.models import ContentFormat

    if content_format not in FORMATS:
        fail(f"--format is one of {', '.join(FORMATS)}, not {content_format!r}")
    settings = settings_or_exit()
    rfm_segments = config_or_exit(settings).rfm_names  # a --rule may name RFM segments

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        async with sessionmaker() as session:
            persona = await create_persona(
                session, name=name, main_problem=problem,
                preferred_format=ContentFormat(content_format), tone=tone, best_offer=offer,
                example_customer=example, now=utcnow(), segment=segment, rule_text=rule,
                rfm_segments=rfm_segments,
            )  # fmt: skip
        out.print(f"saved persona {persona.name}")

    execute(on_database(settings, work))


@app.command(name="from-segment")
def from_segment(
    segment: Annotated[str, typer.Argument(help="An AI segment's name.")],
    name: Annotated[str | None, typer.Option("--name", help="The persona's name.")] = None,
) -> None:
    """Create a persona from an AI segment's profile (with a narrative when a language
    model is configured)."""
    from segments.ai.llm import language_model
    from segments.ai.personas import persona_from_segment

    settings = settings_or_exit()
    ai = config_or_exit(settings).ai

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        async with sessionmaker() as session:
            persona = await persona_from_segment(
                session, segment=segment, now=utcnow(), name=name,
                model=language_model(settings), product=ai.product,
            )  # fmt: skip
        out.print(f"saved persona {persona.name} (from {segment})")
        out.print(f"  main problem: {persona.main_problem}")
        out.print(f"  format: {persona.preferred_format.value}; tone: {persona.tone}")
        out.print(f"  best offer: {persona.best_offer}")
        out.print(f"  example customer: {persona.example_customer}")
        if persona.narrative:
            out.print(f"  {persona.narrative}")

    execute(on_database(settings, work))


@app.command()
def delete(name: Annotated[str, typer.Argument(help="The persona's name.")]) -> None:
    """Delete a persona (campaigns saved with it keep their audience)."""
    from segments.ai.personas import delete_persona

    settings = settings_or_exit()

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        async with sessionmaker() as session:
            await delete_persona(session, name=name)
        out.print(f"deleted persona {name}")

    execute(on_database(settings, work))
