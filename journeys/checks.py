"""What saving a journey checks against the database and the configuration: every
segment it names (triggers, send audiences), every rule (entry, if steps, one-off
audiences) as the saved segments resolve it, RFM segment and ladder stage names. All the
problems are named at once, each with its place; templates are checked as campaigns'
are (broadcasts.templates.check, in journeys.store)."""

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import SegbotError
from journeys.spec import NO_LINES, JourneySpec, SourceLines
from segments.levels import STAGES
from segments.rules import RuleError, parse, segments_named_in
from segments.rules.compiler import condition
from segments.saved import saved_rules


class JourneyCheckError(SegbotError):
    """The journey names a segment, rule, RFM segment or stage that cannot be used."""


@dataclass(frozen=True, slots=True)
class _Named:
    """A segment (`segment`) or a rule (`rule`) the journey names, and where."""

    place: str
    segment: str | None = None
    rule: str | None = None


def _named(spec: JourneySpec, lines: SourceLines) -> Iterator[_Named]:
    """Every segment and rule the journey names, in its order: the trigger's segments, the
    entry rule, then each step's `if` and its send audiences."""
    for key in ("entered_segment", "left_segment"):
        place = lines.at(f"trigger.{key}", ("trigger", key))
        yield _Named(place, segment=getattr(spec.trigger, key))
    yield _Named(lines.at("entry.rule", ("entry", "rule")), rule=spec.entry.rule)
    for number, step in enumerate(spec.steps):
        yield _Named(lines.at(f"step {step.id}, if", ("steps", number, "if")), rule=step.if_)
        for position, target in enumerate(step.send.audience if step.send is not None else ()):
            path = ("steps", number, "send", "audience", position)
            place = lines.at(f"step {step.id}, audience {target.name}", path)
            yield _Named(place, segment=target.segment, rule=target.query)


async def check_names(
    session: AsyncSession,
    spec: JourneySpec,
    *,
    now: datetime,
    rfm_segments: Collection[str],
    lines: SourceLines,
) -> None:
    """JourneyCheckError naming every segment, rule, RFM segment or stage that cannot be
    used, each with its place and its line in the journey's YAML (`lines`)."""
    rules = await saved_rules(session, rfm_segments=rfm_segments)
    problems: list[str] = []
    for key, name, known in (
        ("rfm", spec.trigger.rfm, rfm_segments),
        ("stage", spec.trigger.stage, STAGES),
    ):
        if name is not None and name not in known:
            place = lines.at(f"trigger.{key}", ("trigger", key))
            problems.append(f"{place}: no {name!r} (there are {', '.join(known)})")
    for named in _named(spec, lines):
        if named.segment is not None and named.segment not in rules:
            problems.append(f"{named.place}: no segment named {named.segment!r}")
        if named.rule is not None:
            try:
                condition(parse(named.rule, rfm_segments=rfm_segments), now=now, segments=rules)
            except RuleError as error:
                problems.append(f"{named.place}: {error}")
    if problems:
        raise JourneyCheckError(f"journey {spec.name}: {'; '.join(problems)}")


def segments_named(spec: JourneySpec, *, rfm_segments: Collection[str]) -> set[str]:
    """Every saved segment the journey names: in its trigger, its send audiences, and
    (`in segment`) its entry, if and audience rules."""
    named: set[str] = set()
    for each in _named(spec, NO_LINES):
        if each.segment is not None:
            named.add(each.segment)
        if each.rule is not None:
            named |= segments_named_in(each.rule, rfm_segments=rfm_segments)
    return named
