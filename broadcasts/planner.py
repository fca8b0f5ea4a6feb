"""The planner: when a run starts, its audience becomes an outbox of Delivery rows.

Everything happens in the database, a few set-based INSERT ... SELECT statements per
target, so a million subscribers never pass through Python:

- targets are taken in order and a subscriber goes to the first that matches (later
  targets skip anyone the run already has);
- within a target, a subscriber's variant and whether they are in the holdout come from
  hashing their id with the campaign's (stable across runs, so the control group is too);
- subscribers who are not active, in the holdout or over the frequency cap get a row with
  status `excluded` and the reason, so they are counted and the holdout can give lift;
- quiet hours and local-time schedules become `not_before`, computed per timezone;
- a best-hour schedule first picks each target's hour from the engagement of the
  subscribers it is about to take (`broadcasts.best_time`).

`start_run` is what sending a campaign by hand does (`segbot campaign send-now`, a
draft's Send now in the admin chat): with the campaign taken, a run already under way is
returned as it is, and otherwise, unless the campaign was sent already, one is planned.

`place` answers where a run starting now would put given (or random) subscribers, from
the same expressions, planning nothing: what previews show and explain.
"""

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from sqlalchemy import (
    ColumnElement,
    Insert,
    Integer,
    String,
    case,
    exists,
    false,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import SQLColumnExpression

from broadcasts.best_time import BestHour, best_hour
from broadcasts.config import DEFAULT_BEST_HOUR, BestHourConfig
from broadcasts.local_time import after_quiet_hours, at_local_time, clock_time, zone
from broadcasts.models import (
    Campaign,
    CampaignStatus,
    CampaignTarget,
    Delivery,
    DeliveryStatus,
    Exclusion,
    Run,
    RunStatus,
    ScheduleKind,
    Variant,
)
from broadcasts.runs import RunStateError, check_not_sent, take_campaign
from core.models import Subscriber, SubscriberStatus
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules import parse
from segments.rules.compiler import SegmentRules, condition
from segments.saved import RfmNames, UnknownSegmentError, saved_rules

# Statuses that mean a message went (or may have gone) out.
_OUT = (DeliveryStatus.SENT, DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN)
# Two hashes of (subscriber, campaign) into 0-99, for the holdout and the variant split:
# different primes, so one says nothing about the other.
_HOLDOUT_PRIME, _VARIANT_PRIME = 10007, 10009


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a run would put one subscriber: the first target that takes them, the variant
    their hash picks, and (an `Exclusion` value) why they would get nothing, if so."""

    subscriber_id: int
    target: CampaignTarget
    variant: Variant
    exclusion: str | None


@dataclass(frozen=True, slots=True)
class _Choice:
    """Per subscriber, as SQL: the variant, whether they are left out, and why."""

    variant_id: ColumnElement[int]
    excluded: ColumnElement[bool]
    reason: ColumnElement[str | None]


@dataclass(frozen=True, slots=True)
class Plan:
    run: Run
    queued: int
    excluded: dict[str, int]  # by reason
    postponed: int  # queued with a not_before in the future
    best_hours: dict[str, BestHour] = field(default_factory=dict)  # by target label


async def start_run(
    session: AsyncSession,
    *,
    campaign_id: int,
    now: datetime,
    rfm_segments: RfmNames = DEFAULT_SEGMENT_MAP.names,
    best_hour: BestHourConfig = DEFAULT_BEST_HOUR,
) -> Plan | Run:
    """The campaign's run that is sending or paused, as it is; else a new one, planned
    (a Plan). All decided with the campaign taken (broadcasts.runs.take_campaign) until the
    new run is committed, so two starts at once (a double tap, two send-nows, one and the
    scheduler) start one run. RunStateError if the campaign was sent already; commits."""
    campaign, run = await take_campaign(session, campaign_id)
    if run is not None and run.status in (RunStatus.SENDING, RunStatus.PAUSED):
        await session.commit()  # nothing to plan: lets the campaign go
        return run
    try:
        check_not_sent(campaign)
    except RunStateError:
        await session.commit()
        raise
    return await plan_run(
        session, campaign=campaign, now=now, rfm_segments=rfm_segments, best_hour=best_hour
    )


async def plan_run(
    session: AsyncSession,
    *,
    campaign: Campaign,
    now: datetime,
    scheduled_for: datetime | None = None,
    rfm_segments: RfmNames = DEFAULT_SEGMENT_MAP.names,
    best_hour: BestHourConfig = DEFAULT_BEST_HOUR,
) -> Plan:
    """Start a run of `campaign`: snapshot its audience into deliveries; commits."""
    run = Run(
        campaign_id=campaign.id,
        status=RunStatus.SENDING,
        scheduled_for=scheduled_for or now,
        started_at=now,
    )
    session.add(run)
    await session.flush()
    rules = await saved_rules(session, rfm_segments=rfm_segments)
    local = campaign.schedule_kind in (ScheduleKind.LOCAL, ScheduleKind.BEST_HOUR)
    zones: Sequence[str | None] = ()
    if local or campaign.quiet_start is not None:  # the timezones to wait in
        zones = (await session.scalars(select(Subscriber.timezone).distinct())).all()
    best_hours: dict[str, BestHour] = {}
    for target in campaign.targets:
        matches = _audience(target, rules, now=now, rfm_segments=rfm_segments)
        fresh = matches & not_(_planned_already(run))
        local_at = clock_time(campaign.local_time) if campaign.local_time else None
        if campaign.schedule_kind is ScheduleKind.BEST_HOUR:
            best = await _best_hour(session, campaign, fresh, now=now, config=best_hour)
            best_hours[target.label] = best
            local_at = time(best.hour)
        not_before = _not_before(campaign, zones, now, local_at)
        await session.execute(_insert_deliveries(run, campaign, target, fresh, not_before, now))
    campaign.status = CampaignStatus.RUNNING
    campaign.updated_at = now
    await session.commit()
    summary = await _summary(session, run, now)
    return Plan(summary.run, summary.queued, summary.excluded, summary.postponed, best_hours)


async def place(
    session: AsyncSession,
    *,
    campaign: Campaign,
    now: datetime,
    subscriber_ids: Collection[int] | None = None,
    sample: int | None = None,
    rfm_segments: RfmNames = DEFAULT_SEGMENT_MAP.names,
) -> list[Placement]:
    """Where a run of `campaign` starting at `now` would put `subscriber_ids` (or, with
    `sample`, that many random members of each target, those it would send to first):
    the audiences, their order, the split, holdout and cap of `plan_run`. Reads only."""
    rules = await saved_rules(session, rfm_segments=rfm_segments)
    variants = {variant.id: variant for target in campaign.targets for variant in target.variants}
    earlier: list[ColumnElement[bool]] = []
    placements = []
    for target in campaign.targets:
        matches = _audience(target, rules, now=now, rfm_segments=rfm_segments)
        fresh = matches & _none_of(earlier) if earlier else matches
        earlier.append(matches)
        choice = _choice(campaign, target, now)
        query = select(Subscriber.id, choice.variant_id, choice.reason).where(fresh)
        if subscriber_ids is not None:
            query = query.where(Subscriber.id.in_(subscriber_ids))
        if sample is not None:
            query = query.order_by(case((choice.excluded, 1), else_=0), func.random())
            query = query.limit(sample)
        for subscriber_id, variant_id, reason in (await session.execute(query)).all():
            placements.append(Placement(subscriber_id, target, variants[variant_id], reason))
    return placements


def _none_of(audiences: Sequence[ColumnElement[bool]]) -> ColumnElement[bool]:
    """No earlier target took the subscriber: none of their audiences holds (NULL, as in
    the INSERT's WHERE, is not holding)."""
    return case((or_(*audiences), false()), else_=true())


def _planned_already(run: Run) -> ColumnElement[bool]:
    """The subscriber already has a delivery in this run (an earlier target took them)."""
    earlier = aliased(Delivery)
    return exists().where(earlier.run_id == run.id, earlier.subscriber_id == Subscriber.id)


async def _best_hour(
    session: AsyncSession,
    campaign: Campaign,
    audience: ColumnElement[bool],
    *,
    now: datetime,
    config: BestHourConfig,
) -> BestHour:
    return await best_hour(
        session,
        since=now - timedelta(days=config.days),
        until=now,
        fallback_hour=config.fallback_hour,
        min_events=config.min_events,
        subscriber_ids=select(Subscriber.id).where(audience),
        default_timezone=campaign.timezone,
    )


def _audience(
    target: CampaignTarget, rules: SegmentRules, *, now: datetime, rfm_segments: RfmNames
) -> ColumnElement[bool]:
    if target.segment is not None:
        if target.segment not in rules:
            raise UnknownSegmentError(f"audience {target.label}: no segment {target.segment!r}")
        return condition(rules[target.segment], now=now, segments=rules)
    if target.rule_text is not None:
        rule = parse(target.rule_text, rfm_segments=rfm_segments)
        return condition(rule, now=now, segments=rules)
    return true()


def _bucket(campaign: Campaign, prime: int) -> ColumnElement[int]:
    """0-99 from the subscriber id and the campaign id: deterministic and well spread."""
    return (Subscriber.id * 7919 + campaign.id) % prime % 100


def _insert_deliveries(
    run: Run,
    campaign: Campaign,
    target: CampaignTarget,
    matches: ColumnElement[bool],
    not_before: ColumnElement[datetime | None],
    now: datetime,
) -> Insert:
    choice = _choice(campaign, target, now)
    status = case(
        (choice.excluded, literal(DeliveryStatus.EXCLUDED.value)),
        else_=literal(DeliveryStatus.QUEUED.value),
    )
    rows = select(
        literal(run.id),
        Subscriber.id,
        literal(target.id),
        choice.variant_id,
        status,
        choice.reason,
        case((choice.excluded, literal(None, Delivery.not_before.type)), else_=not_before),
        literal(0, Integer),
    ).where(matches)
    columns = [
        "run_id",
        "subscriber_id",
        "target_id",
        "variant_id",
        "status",
        "reason",
        "not_before",
        "attempts",
    ]
    return insert(Delivery).from_select(columns, rows)


def _choice(campaign: Campaign, target: CampaignTarget, now: datetime) -> _Choice:
    variant_bucket = _bucket(campaign, _VARIANT_PRIME)
    limits, cumulative = [], 0
    for variant in target.variants[:-1]:
        cumulative += variant.split_percent
        limits.append((variant_bucket < cumulative, literal(variant.id)))
    last = literal(target.variants[-1].id)
    variant_id = case(*limits, else_=last) if limits else last
    inactive = Subscriber.status != SubscriberStatus.ACTIVE
    holdout = _bucket(campaign, _HOLDOUT_PRIME) < campaign.holdout_percent
    capped = _cap_reached(campaign, now)
    reason = case(
        (inactive, type_coerce(Subscriber.status, String)),
        (holdout, literal(Exclusion.HOLDOUT.value)),
        (capped, literal(Exclusion.CAPPED.value)),
        else_=literal(None, String),
    )
    return _Choice(variant_id, inactive | holdout | capped, reason)


def _cap_reached(campaign: Campaign, now: datetime) -> ColumnElement[bool]:
    earlier = aliased(Delivery)
    since = now - timedelta(hours=campaign.cap_hours)
    counted = (
        select(func.count())
        .where(
            earlier.subscriber_id == Subscriber.id,
            counts_toward_cap(earlier.status, earlier.claimed_at, earlier.run_id, since=since),
        )
        .scalar_subquery()
    )
    return counted >= campaign.cap_messages


def counts_toward_cap(
    status: SQLColumnExpression[DeliveryStatus],
    claimed_at: SQLColumnExpression[datetime | None],
    run_id: SQLColumnExpression[int],
    *,
    since: datetime,
) -> ColumnElement[bool]:
    """Whether a delivery (its `status`, `claimed_at` and `run_id`) counts toward a
    frequency cap whose window began `since`: a message out (or that may be) since then,
    or one queued in a run that is sending, so about to go. Broadcasts and journeys count
    each other's (journeys.sends)."""
    sending = select(Run.id).where(Run.status == RunStatus.SENDING)
    return (status.in_(_OUT) & (claimed_at >= since)) | (
        (status == DeliveryStatus.QUEUED) & run_id.in_(sending)
    )


def _not_before(
    campaign: Campaign, zones: Sequence[str | None], now: datetime, local_at: time | None
) -> ColumnElement[datetime | None]:
    """Per subscriber timezone: when their local clock allows this run's message (None:
    at once) — `local_at` on the campaign's day, and after the quiet hours. One CASE
    branch per timezone that has to wait."""
    local = campaign.run_at is not None and local_at is not None
    if not local and campaign.quiet_start is None:
        return literal(None, Delivery.not_before.type)
    waits = {name: _allowed_from(campaign, name, now, local_at) for name in zones}
    fallback = _allowed_from(campaign, None, now, local_at)
    branches = [
        (Subscriber.timezone == name, literal(moment, Delivery.not_before.type))
        for name, moment in waits.items()
        if name is not None and moment != fallback
    ]
    otherwise = literal(fallback, Delivery.not_before.type)
    return case(*branches, else_=otherwise) if branches else otherwise


def _allowed_from(
    campaign: Campaign, zone_name: str | None, now: datetime, local_at: time | None
) -> datetime | None:
    tz = zone(zone_name, campaign.timezone)
    moment = now
    if local_at is not None and campaign.run_at is not None:
        day = campaign.run_at.astimezone(zone(campaign.schedule_timezone, "UTC")).date()
        moment = max(now, at_local_time(day, local_at, tz))
    if campaign.quiet_start is not None and campaign.quiet_end is not None:
        start, end = clock_time(campaign.quiet_start), clock_time(campaign.quiet_end)
        moment = after_quiet_hours(moment, tz, start, end)
    return moment if moment > now else None


async def _summary(session: AsyncSession, run: Run, now: datetime) -> Plan:
    later = func.sum(case((Delivery.not_before > now, 1), else_=0))
    rows = await session.execute(
        select(Delivery.status, Delivery.reason, func.count(), later)
        .where(Delivery.run_id == run.id)
        .group_by(Delivery.status, Delivery.reason)
    )
    queued, postponed, excluded = 0, 0, Counter[str]()
    for status, reason, count, waiting in rows.all():
        if status is DeliveryStatus.EXCLUDED:
            excluded[reason or ""] += count
        else:
            queued += count
            postponed += int(waiting or 0)
    return Plan(run=run, queued=queued, excluded=dict(excluded), postponed=postponed)
