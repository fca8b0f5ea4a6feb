"""`segbot segments ...`, `segbot rfm` and `segbot ladder`: segments from the command line.

Results go to stdout; errors are one line on stderr (a rule error adds the rule with a
caret under the place), exit 2 for bad input and 1 when the database cannot be used.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from cli.execution import (
    EXIT_FAILURE,
    config_or_exit,
    execute,
    fail,
    on_database,
    settings_or_exit,
)
from cli.tables import FittedTable, SafeConsole
from core.clock import utcnow
from core.errors import SegbotError

if TYPE_CHECKING:  # pandas and the domain modules load only when a command runs
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from core.settings import Settings
    from segments.config import SegmentsConfig
    from segments.rfm.scoring import TooFewCustomers
    from segments.rules import Rule

T = TypeVar("T")

app = typer.Typer(
    help=(
        "Saved segments: list, show, count, save, explain, refresh; AI segments: "
        "generate, lookalike."
    ),
    no_args_is_help=True,
    add_completion=False,
)
rfm_app = typer.Typer(add_completion=False)
ladder_app = typer.Typer(add_completion=False)
out = SafeConsole(highlight=False)


def _run(
    work: Callable[[async_sessionmaker[AsyncSession], SegmentsConfig], Awaitable[T]],
    *,
    rule_text: str | None = None,
    settings: Settings | None = None,
) -> T:
    """Settings (unless the command read them already), config and a ready database for
    `work`; errors become one line (a rule error with `rule_text` adds the rule with a
    caret under the place)."""
    from segments.rules import RuleError

    settings = settings or settings_or_exit()
    config = config_or_exit(settings).segments

    def explain(error: SegbotError) -> str:
        if isinstance(error, RuleError) and rule_text and error.position is not None:
            return f"{error}\n{error.pointer(rule_text)}"
        return str(error)

    return execute(on_database(settings, lambda sessions: work(sessions, config)), explain=explain)


def _names(config: SegmentsConfig) -> tuple[str, ...]:
    return config.rfm.segment_map().names


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


async def _why_empty(
    session: AsyncSession,
    sizes: dict[str, int | None],
    config: SegmentsConfig,
    *,
    rules: Mapping[str, Rule] | None = None,
) -> dict[str, str]:
    """For each segment of `sizes` counting no subscriber while its rule asks about CRM
    customers: `0 subscribers (50 customers, 0 linked to a subscriber)`. `rules` are rules
    not saved (yet) to judge by their names, beside the saved ones."""
    from crm_sync.reports import why_empty
    from segments.rules.fields import asks_about_customers
    from segments.saved import saved_rules

    if 0 not in sizes.values():
        return {}
    saved = await saved_rules(session, rfm_segments=_names(config))
    judged = {**saved, **(rules or {})}
    asking = {name for name, rule in judged.items() if asks_about_customers(rule, segments=saved)}
    return await why_empty(session, sizes, asking=asking)


async def _why_none(session: AsyncSession, rule_text: str, config: SegmentsConfig) -> str | None:
    """Why a rule that counts no subscriber may count none: its CRM customers are not
    linked to subscribers (None when that is not the reason)."""
    from segments.rules import parse

    whys = await _why_empty(session, {"": 0}, config, rules={"": parse(rule_text)})
    return whys.get("")


def _print_reason(why: str) -> None:
    from crm_sync.reports import HOW_CUSTOMERS_LINK

    out.print(why)
    out.print(HOW_CUSTOMERS_LINK)


def _print_why_empty(whys: dict[str, str]) -> None:
    from crm_sync.reports import HOW_CUSTOMERS_LINK

    for name, why in whys.items():
        out.print(f"{name}: {why}")
    if whys:
        out.print(HOW_CUSTOMERS_LINK)


# -- segbot segments ------------------------------------------------------------------------
@app.command(name="list")
def list_command() -> None:
    """Every saved segment with its size at the last refresh."""

    from segments.saved import list_segments

    async def work(sessionmaker: async_sessionmaker[AsyncSession], config: SegmentsConfig) -> None:
        async with sessionmaker() as session:
            segments = await list_segments(session)
            whys = await _why_empty(session, {s.name: s.size for s in segments}, config)
        table = FittedTable("name", "kind", "members", "refreshed", "version", "rule")
        for segment in segments:
            size = "-" if segment.size is None else str(segment.size)
            refreshed, version = _when(segment.refreshed_at), str(segment.version)
            row = (segment.name, segment.kind.value, size, refreshed, version, segment.rule_text)
            table.add_row(*row)
        out.print(table if segments else "no saved segments yet: segbot segments save NAME RULE")
        _print_why_empty(whys)

    _run(work)


@app.command()
def show(name: Annotated[str, typer.Argument(help="The segment's name.")]) -> None:
    """A segment's rule, description, owner, versions and size history."""

    from segments.membership import size_history
    from segments.saved import get_segment, segment_versions

    async def work(sessionmaker: async_sessionmaker[AsyncSession], config: SegmentsConfig) -> None:
        async with sessionmaker() as session:
            segment = await get_segment(session, name=name)
            versions = await segment_versions(session, name=name)
            sizes = await size_history(session, segment_id=segment.id)
            whys = await _why_empty(session, {segment.name: segment.size}, config)
        out.print(f"{segment.name} (version {segment.version}, owner {segment.owner or '-'})")
        out.print(f"rule: {segment.rule_text}")
        if segment.description:
            out.print(f"description: {segment.description}")
        members = whys.get(segment.name, "-" if segment.size is None else str(segment.size))
        out.print(f"members: {members}")
        history = FittedTable("version", "saved", "owner", "rule")
        for version in versions:
            history.add_row(
                str(version.version),
                _when(version.saved_at),
                version.owner or "-",
                version.rule_text,
            )
        out.print(history)
        if sizes:
            table = FittedTable("refreshed", "members", "entered", "left")
            for size in sizes[-10:]:
                table.add_row(
                    _when(size.measured_at), *(str(n) for n in (size.size, size.entered, size.left))
                )
            out.print(table)

    _run(work)


@app.command()
def count(
    rule: Annotated[str, typer.Argument(help='A rule, e.g. "lang = es and clicked within 7d".')],
) -> None:
    """How many subscribers a rule selects right now."""

    from segments.saved import count_matching

    async def work(sessionmaker: async_sessionmaker[AsyncSession], config: SegmentsConfig) -> None:
        async with sessionmaker() as session:
            found = await count_matching(
                session, rule_text=rule, now=utcnow(), rfm_segments=_names(config)
            )
            why = await _why_none(session, rule, config) if found == 0 else None
        if why is None:
            out.print(str(found))
        else:
            _print_reason(why)

    _run(work, rule_text=rule)


OWNER_LENGTH = 64  # the segments' owner column


def _an_owner(owner: str | None) -> str | None:
    """--owner as its column holds it: PostgreSQL refuses a longer one only at the INSERT
    (SQLite keeps it whole), and a control character would reach every listing."""
    if owner is not None and not (0 < len(owner) <= OWNER_LENGTH and owner.isprintable()):
        raise typer.BadParameter(f"an owner is 1-{OWNER_LENGTH} printable characters")
    return owner


@app.command()
def save(
    name: Annotated[str, typer.Argument(help="The segment's name.")],
    rule: Annotated[str, typer.Argument(help="Its rule.")],
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", callback=_an_owner, help="Who saves it.")
    ] = None,
) -> None:
    """Save a segment (a new version if it exists); a bad rule saves nothing."""

    from segments.saved import count_matching, save_segment

    async def work(sessionmaker: async_sessionmaker[AsyncSession], config: SegmentsConfig) -> None:
        names, now = _names(config), utcnow()
        async with sessionmaker() as session:
            segment = await save_segment(
                session, name=name, rule_text=rule, now=now, description=description,
                owner=owner, rfm_segments=names,
            )  # fmt: skip
            size = await count_matching(
                session, rule_text=segment.rule_text, now=now, rfm_segments=names
            )
            why = await _why_none(session, segment.rule_text, config) if size == 0 else None
        out.print(f"saved {segment.name} (version {segment.version}): {segment.rule_text}")
        matching = f"{size} subscribers" if why is None else why
        out.print(f"{matching} match now; members update on the next refresh")

    _run(work, rule_text=rule)


@app.command()
def explain(
    name: Annotated[str, typer.Argument(help="The segment's name.")],
    subscriber: Annotated[
        str, typer.Argument(help="The subscriber: id (42 or id:42), tg:TELEGRAM_ID or @username.")
    ],
) -> None:
    """Why a subscriber is or is not in a segment, predicate by predicate."""

    from cli.subscribers import subscriber_or_exit
    from segments.saved import explain_membership

    async def work(sessionmaker: async_sessionmaker[AsyncSession], config: SegmentsConfig) -> None:
        async with sessionmaker() as session:
            subscriber_id = (await subscriber_or_exit(session, subscriber)).id
            explanation = await explain_membership(
                session, name=name, subscriber_id=subscriber_id, now=utcnow(),
                rfm_segments=_names(config),
            )  # fmt: skip
        verdict = "is in" if explanation.matches else "is not in"
        out.print(f"subscriber {subscriber_id} {verdict} {name}: {explanation.rule}")
        for check in explanation.checks:
            out.print(f"  {'yes' if check.held else 'no '}  {check.predicate}")

    _run(work)


@app.command()
def refresh(
    names: Annotated[
        list[str] | None, typer.Argument(help="Segments to refresh (default: everything).")
    ] = None,
) -> None:
    """Refresh members. Without names: RFM, activity, ladder and every segment first.
    A name no segment has refreshes nothing and exits 1 listing the names there are; so
    does a segment that cannot refresh."""

    from cli.tables import membership_table
    from segments.jobs import refresh_all
    from segments.membership import refresh_memberships

    async def work(sessionmaker: async_sessionmaker[AsyncSession], config: SegmentsConfig) -> None:
        if names:
            outcomes = await refresh_memberships(
                sessionmaker, now=utcnow(), names=names, rfm_segments=_names(config)
            )
        else:
            everything = await refresh_all(sessionmaker, config=config)
            rfm = everything.rfm
            scored = f"{rfm.customers} customers scored"
            out.print(f"rfm: {scored if rfm.too_few is None else _not_scored(rfm.too_few)}")
            changed = (everything.activity.changed, everything.ladder.changed)
            out.print("activity: {} changed; ladder: {} changed".format(*changed))
            outcomes = everything.memberships
        if not outcomes:
            out.print("no saved segments yet: segbot segments save NAME RULE")
            return
        out.print(membership_table(outcomes))
        async with sessionmaker() as session:
            sizes: dict[str, int | None] = {o.segment: o.size for o in outcomes if not o.error}
            _print_why_empty(await _why_empty(session, sizes, config))
        failed = [outcome.segment for outcome in outcomes if outcome.error]
        if failed:
            fail(f"not refreshed (see the problem column): {', '.join(failed)}", EXIT_FAILURE)

    _run(work)


@app.command()
def generate(
    k_min: Annotated[int | None, typer.Option("--k-min", help="Fewest clusters.")] = None,
    k_max: Annotated[int | None, typer.Option("--k-max", help="Most clusters.")] = None,
    describe: Annotated[
        str | None,
        typer.Option(
            "--describe",
            help='Features and audience, e.g. "engagement and interests where lang = es".',
        ),
    ] = None,
) -> None:
    """Find AI segments (clusters with profiles); replaces every current AI segment."""
    from bot.admin.segment_deletion import refuse_if_used
    from segments.ai.generate import generate_ai_segments
    from segments.ai.llm import language_model
    from segments.ai.profiles import HOW_TO_READ

    settings = settings_or_exit()
    ai = config_or_exit(settings).ai

    async def work(sessionmaker: async_sessionmaker[AsyncSession], config: SegmentsConfig) -> None:
        result = await generate_ai_segments(
            sessionmaker, now=utcnow(), config=ai, k_min=k_min, k_max=k_max,
            description=describe, model=language_model(settings),
            rfm_segments=_names(config),
            check_removable=partial(refuse_if_used, rfm_segments=_names(config)),
        )  # fmt: skip
        if result.removed:
            out.print(f"replaced {len(result.removed)} AI segments: {', '.join(result.removed)}")
        out.print(
            f"{result.k} AI segments of {result.audience} subscribers (fitted on "
            f"{result.fitted_on}; features: {', '.join(result.groups)})"
        )
        out.print(f"how many: {result.choice.summary()}")
        out.print(HOW_TO_READ)
        for profile in result.profiles:
            out.print(f"\n{profile.name}: {profile.size} ({profile.share:.0%})")
            for section in ("demographics", "geography", "interests", "behaviours"):
                out.print(f"  {section}: {'; '.join(profile.section(section)) or '-'}")
            out.print(f"  pain points: {'; '.join(profile.pain_points)}")
        for persona in result.orphaned_personas:
            out.print(f"persona {persona} lost its source segment: recreate it")

    _run(work, settings=settings)


@app.command()
def lookalike(
    seed: Annotated[str, typer.Argument(help="The segment to look like, e.g. buyers.")],
    size: Annotated[int, typer.Option("--size", help="How many subscribers.")],
    name: Annotated[str | None, typer.Option("--name", help="The new segment's name.")] = None,
) -> None:
    """Save the SIZE subscribers most like the members of SEED (not in it) as a segment."""
    from segments.ai.lookalike import build_lookalike

    settings = settings_or_exit()
    ai = config_or_exit(settings).ai

    async def work(sessionmaker: async_sessionmaker[AsyncSession], config: SegmentsConfig) -> None:
        result = await build_lookalike(
            sessionmaker, seed=seed, size=size, now=utcnow(), config=ai, name=name,
            rfm_segments=_names(config),
        )  # fmt: skip
        verb = "replaced" if result.replaced else "saved"
        out.print(
            f"{verb} {result.name}: the {result.size} subscribers most like the "
            f"{result.seed_size} in {result.seed}"
        )

    _run(work, settings=settings)


# -- segbot rfm -----------------------------------------------------------------------------
@rfm_app.callback(invoke_without_command=True)
def rfm(
    as_of: Annotated[
        datetime | None,
        typer.Option("--as-of", formats=["%Y-%m-%d"], help="Score as of this day (not stored)."),
    ] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Write every customer's scores here.")
    ] = None,
) -> None:
    """RFM scores per segment. Without --as-of: rescore now and store the scores."""
    if as_of is not None and as_of.date() == date.max:  # "by that day" ends the day after
        fail(f"--as-of: give a day before {date.max.isoformat()}")
    if csv is not None and (csv.is_dir() or not csv.parent.is_dir()):  # before storing scores
        why = "it is a folder" if csv.is_dir() else "its folder does not exist"
        fail(f"cannot write {csv}: {why}; nothing was scored", EXIT_FAILURE)

    from cli.tables import rfm_summary_table
    from core.safe_csv import write_frame
    from segments.rfm.purchases import read_purchase_summary
    from segments.rfm.scoring import score_with_minimum
    from segments.rfm.store import rescore_rfm, rfm_table

    async def work(sessionmaker: async_sessionmaker[AsyncSession], config: SegmentsConfig) -> None:
        segment_map, minimum = config.rfm.segment_map(), config.rfm.min_customers
        async with sessionmaker() as session:
            if as_of is None:
                now = utcnow()
                day = now.date()
                rescore = await rescore_rfm(
                    session, as_of=day, now=now, segment_map=segment_map, min_customers=minimum
                )
                too_few = rescore.too_few
                scores = await rfm_table(session)
            else:
                day = as_of.date()
                summary = await read_purchase_summary(session, as_of=day)
                scores, too_few = score_with_minimum(
                    summary, day, min_customers=minimum, segment_map=segment_map
                )
                scores = scores.assign(as_of=day)
        if too_few is None:
            stored = " (stored)" if as_of is None else ""
            out.print(f"RFM as of {day}: {len(scores)} customers{stored}")
            out.print(rfm_summary_table(scores, segment_map.names))
        else:
            out.print(f"RFM as of {day}: {_not_scored(too_few)}")
        if csv is not None:
            try:
                write_frame(scores, csv)
            except OSError as error:  # pandas names no file when its folder is missing
                fail(f"cannot write {csv}: {error.strerror or error}", EXIT_FAILURE)
            out.print(f"wrote {len(scores)} customers to {csv}")

    _run(work)


def _not_scored(too_few: TooFewCustomers) -> str:
    """Why RFM scored nobody, and what to change: more customers, or the minimum."""
    remedy = "segbot crm import" if too_few.customers == 0 else "rfm.min_customers in segbot.yaml"
    return f"not scored: {too_few} ({remedy})"


# -- segbot ladder --------------------------------------------------------------------------
@ladder_app.callback(invoke_without_command=True)
def ladder_command(
    refresh_first: Annotated[
        bool, typer.Option("--refresh", help="Restage everyone first.")
    ] = False,
) -> None:
    """Subscribers (and buyers among them) on each stage of the ladder of awareness."""

    from cli.tables import ladder_table
    from segments.ladder import ladder, refresh_ladder

    async def work(sessionmaker: async_sessionmaker[AsyncSession], config: SegmentsConfig) -> None:
        async with sessionmaker() as session:
            if refresh_first:
                outcome = await refresh_ladder(session, now=utcnow(), config=config.ladder)
                out.print(f"restaged: {outcome.changed} changed")
            counts = await ladder(session)
        out.print(ladder_table(counts))

    _run(work)
