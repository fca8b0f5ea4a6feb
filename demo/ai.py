"""The demo's AI segments: generated on the demo database, their profiles printed, and a
persona made from the largest. Statistics only (no language model), so it runs offline."""

from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cli.tables import FittedTable
from core.clock import utcnow
from core.errors import SegbotError
from segments.ai.config import AiConfig
from segments.ai.generate import generate_ai_segments
from segments.ai.personas import persona_from_segment

DEMO_CONFIG = AiConfig(k_min=2, k_max=3, product="the demo shop's products")


async def show_ai_segments(
    sessionmaker: async_sessionmaker[AsyncSession], console: Console
) -> None:
    """Generate AI segments and print each one's profile; a persona from the largest."""
    try:
        result = await generate_ai_segments(sessionmaker, now=utcnow(), config=DEMO_CONFIG)
    except SegbotError as error:  # e.g. too few subscribers to cluster
        console.print(f"AI segments: {error}")
        return
    table = FittedTable("AI segment", "members", "profile", "pain points", title="AI segments")
    for profile in result.profiles:
        sections = ("demographics", "geography", "interests", "behaviours")
        lines = [f"{name}: {'; '.join(profile.section(name)) or '-'}" for name in sections]
        table.add_row(
            profile.name, f"{profile.size} ({profile.share:.0%})", "\n".join(lines),
            "\n".join(profile.pain_points),
        )  # fmt: skip
    console.print(table)
    async with sessionmaker() as session:
        persona = await persona_from_segment(
            session, segment=result.profiles[0].name, now=utcnow(), name="Demo persona"
        )
    console.print(
        f"Persona {persona.name}: {persona.main_problem}; format {persona.preferred_format}; "
        f"tone {persona.tone}; offer {persona.best_offer}"
    )
