"""What saving a journey checks against the database and the configuration: every
segment it names (triggers, send audiences), every rule (entry, if steps, one-off
audiences) as the saved segments resolve it, RFM segment and ladder stage names. All the
problems are named at once, each with its place; templates are checked as campaigns'
are (broadcasts.templates.check, in journeys.store)."""

from collections.abc import Collection
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import SegbotError
from journeys.spec import JourneySpec
from segments.levels import STAGES
from segments.rules import RuleError, parse, segments_named_in
from segments.rules.compiler import condition
from segments.saved import saved_rules


class JourneyCheckError(SegbotError):
    """The journey names a segment, rule, RFM segment or stage that cannot be used."""


async def check_names(
    session: AsyncSession, spec: JourneySpec, *, now: datetime, rfm_segments: Collection[str]
) -> None:
    """JourneyCheckError naming every segment, rule, RFM segment or stage that cannot be
    used, each with its place."""
    rules = await saved_rules(session, rfm_segments=rfm_segments)
    problems: list[str] = []

    def check_rule(place: str, text: str) -> None:
        try:
            condition(parse(text, rfm_segments=rfm_segments), now=now, segments=rules)
        except RuleError as error:
            problems.append(f"{place}: {error}")

    def check_segment(place: str, name: str) -> None:
        if name not in rules:
            problems.append(f"{place}: no segment named {name!r}")

    trigger = spec.trigger
    for place, segment in (
        ("trigger.entered_segment", trigger.entered_segment),
        ("trigger.left_segment", trigger.left_segment),
    ):
        if segment is not None:
            check_segment(place, segment)
    for place, name, known in (
        ("trigger.rfm", trigger.rfm, rfm_segments),
        ("trigger.stage", trigger.stage, STAGES),
    ):
        if name is not None and name not in known:
            problems.append(f"{place}: no {name!r} (there are {', '.join(known)})")
    if spec.entry.rule is not None:
        check_rule("entry.rule", spec.entry.rule)
    for step in spec.steps:
        if step.if_ is not None:
            check_rule(f"step {step.id}, if", step.if_)
        for target in step.send.audience if step.send is not None else ():
            place = f"step {step.id}, audience {target.name}"
            if target.segment is not None:
                check_segment(place, target.segment)
            if target.query is not None:
                check_rule(place, target.query)
    if problems:
        raise JourneyCheckError(f"journey {spec.name}: {'; '.join(problems)}")


def segments_named(spec: JourneySpec, *, rfm_segments: Collection[str]) -> set[str]:
    """Every saved segment the journey names: in its trigger, its send audiences, and
    (`in segment`) its entry, if and audience rules."""
    named = {spec.trigger.entered_segment, spec.trigger.left_segment}
    rules = [spec.entry.rule]
    for step in spec.steps:
        rules.append(step.if_)
        for target in step.send.audience if step.send is not None else ():
            named.add(target.segment)
            rules.append(target.query)
    for text in rules:
        if text is not None:
            named |= segments_named_in(text, rfm_segments=rfm_segments)
    return {name for name in named if name is not None}
