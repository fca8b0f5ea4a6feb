"""How fast broadcasts are planned and sent.

(a) Planning: a campaign with two segment targets and a default, holdout and frequency
    cap on, for N subscribers (outbox materialisation) on SQLite and, when reachable,
    PostgreSQL; the baseline, in the same run, is one bare INSERT ... SELECT of the same
    number of delivery rows.
(b) Sending, limits off, on SQLite and, when reachable, PostgreSQL: the real sender
    (claims, templates, tracked links, its own Bot API requests) against the Bot API
    emulator, which runs in a process of its own so the sender has this one to itself;
    the baseline replays the very requests the sender made with a bare aiohttp loop (100
    connections, as aiogram's session). Target: at least 1,000 messages/s, the
    paid-broadcast ceiling; CPU per message within 1.4x of the baseline's, on each
    database. This process's heap is frozen first, as `segbot run` freezes its own
    once everything is imported (bot.runtime.freeze_startup_heap); both sides run on it.
    Wall-clock rates are capped by what the emulator can serve on its core; CPU rates
    (messages per CPU second of this process) say what one core of sender can do.
    The sender runs twice each round: with its own bounds, which at this rate let up to
    broadcasts.sender.MAX_IN_FLIGHT (500) requests wait on the emulator at once, on as
    many connections; and with at most the baseline's 100 messages on their way at once
    (`in_flight`), the same requests at the same concurrency. The floors, for scale: the
    same requests through aiogram alone (`bot.send_message` on aiogram's own session, no
    segbot code), which the sender does not use for broadcasts; and the least any sender
    that never sends a message twice must add to the baseline (`crash_safe_replay`: each
    batch of CLAIM_CAP claimed in the database before it is sent, each message recorded
    after), whose ratio to the baseline is as close as such a sender can come; and that
    floor with the work each of segbot's messages needs (`composing_replay`: recipients
    and their template variables loaded, each message composed with its signed links,
    each batch marked attempted before it goes), so that what is left between it and the
    sender (`cpu_ratio_to_composing`) is the sender's per-message machinery: pacing, a
    task and a deadline per message, the pipeline's bounds.
(c) Sending under a strict limit: the emulator accepts at most N sends in any sliding
    second (429 with retry_after beyond), and the sender is set to the same N: 3,000
    messages at N = 25 and N = 30; the same at 25 with 1 % of answers held 35 s, past
    SEGBOT_SEND_TIMEOUT; and the paid lane at 1,000/s against an emulator enforcing 1,000.
    For each: the achieved rate at the emulator as a fraction of N (targets: >= 0.95,
    >= 0.90 with held answers, >= 0.90 paid), the 429s it answered (target: 0), and the
    most sends it accepted in any one-second window (never above N). The pacing keeps a
    5 % margin (broadcasts.pacing.MARGIN), so 1/1.05, about 0.952, is every lane's ceiling,
    just above the free lanes' target. The emulator counts a send when it arrived
    (telegram_emulator/arrivals.py); its process runs without the garbage collector, whose
    pauses would hold its answers up (serve_emulator).

Each timed side runs ROUNDS times and its best run counts. Prints one JSON line.

    python -m benchmarks.broadcast [--small] [--postgres URL] [--only planning|sending]
"""

import argparse
import asyncio
import gc
import json
import multiprocessing
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import bindparam, func, insert, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import migrations
from bot.messenger import TelegramMessenger
from bot.runtime import freeze_startup_heap
from bot.telegram_requests import request as build_request
from broadcasts.campaigns import save_campaign
from broadcasts.claims import DELIVERIES, mark_attempted
from broadcasts.compose import compose, prepare_variants, recipients
from broadcasts.models import Campaign, Delivery, DeliveryStatus, Run, RunStatus
from broadcasts.pacing import LocalSlots, RateBudget
from broadcasts.planner import Plan, plan_run
from broadcasts.sender import CLAIM_CAP, BatchResult, Sender, SenderSettings
from broadcasts.spec import parse_campaign
from core.db import UtcDateTime, create_engine, create_sessionmaker
from core.id_lists import among, id_list
from core.models import Subscriber
from core.settings import load_settings
from segments.saved import save_segment
from telegram_emulator import Emulator, EmulatorClient
from telegram_emulator.limits import Limits
from tests.databases import temporary_postgres_database

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
ROUNDS = 3
TOKEN = "123456:BENCH"  # noqa: S105  (the emulator takes any token)
SECRET = "bench-secret"  # noqa: S105
PUBLIC_URL = "http://127.0.0.1:8080"
FREE_RATE, PAID_RATE = 25.0, 1000.0  # SEGBOT_RATE_LIMIT's default; Telegram's paid ceiling
STRICT_RATES = (25, 30)  # limits the emulator enforces exactly, the sender set to the same
HELD_SHARE, HELD_SECONDS = 0.01, 35.0  # answers held past SEGBOT_SEND_TIMEOUT (10 s)
UNLIMITED_RATE = 10_000.0  # pacing that never binds: what the sender itself can do
CONNECTIONS = 100  # the baseline's, as aiogram's session
FLOOR = "floor"  # the sender id the floors claim as
Params = dict[str, Any]  # a request's JSON body
CAMPAIGN = """
name: {name}
audience:
  - segment: spanish
    text: "Hola {{{{ first_name }}}}: https://shop.example/es"
  - segment: russian
    text: "Привет, {{{{ first_name }}}}"
default:
  text: "Hello <b>{{{{ first_name }}}}</b>, see https://shop.example/sale"
  buttons: [{{text: Shop, url: "https://shop.example/"}}]
holdout: {holdout}
frequency_cap: {{messages: 100, hours: 1}}
"""


# -- the audience ------------------------------------------------------------------------


async def fresh_database(url: str) -> AsyncEngine:
    engine = create_engine(url)
    await migrations.upgrade(engine)
    return engine


async def add_audience(session: AsyncSession, count: int) -> None:
    """`count` subscribers (ids, telegram and chat ids 1..count), a third each es/ru/en,
    inserted by the database itself, and the two segments the campaign targets."""
    dialect = session.get_bind().dialect.name
    numbers = (
        "SELECT n FROM generate_series(1, :count) AS n"
        if dialect == "postgresql"
        else "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :count)"
        " SELECT n FROM seq"
    )
    attributes = "'{}'::json" if dialect == "postgresql" else "'{}'"
    statement = text(
        "INSERT INTO subscribers (telegram_id, chat_id, first_name, language_code, status,"  # noqa: S608
        " subscribed_at, last_seen_at, attributes)"
        " SELECT n, n, 'User' || n,"
        " CASE n % 3 WHEN 0 THEN 'es' WHEN 1 THEN 'ru' ELSE 'en' END,"
        f" 'active', :at, :at, {attributes} FROM ({numbers}) AS numbers"
    ).bindparams(bindparam("at", type_=UtcDateTime()))
    await session.execute(statement, {"count": count, "at": NOW})
    await session.commit()
    await save_segment(session, name="spanish", rule_text="lang = es", now=NOW)
    await save_segment(session, name="russian", rule_text="lang = ru", now=NOW)


async def campaign(session: AsyncSession, name: str, *, holdout: int = 0) -> Campaign:
    spec = parse_campaign(CAMPAIGN.format(name=name, holdout=holdout))
    return await save_campaign(session, spec=spec, now=NOW, public_url=PUBLIC_URL)


# -- (a) planning ------------------------------------------------------------------------


async def measure_planning(url: str, subscribers: int) -> dict[str, Any]:
    engine = await fresh_database(url)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with sessionmaker() as session:
            await add_audience(session, subscribers)
        planned, bare = [], []
        for round_number in range(ROUNDS):
            async with sessionmaker() as session:
                planned_campaign = await campaign(session, f"plan{round_number}", holdout=10)
                started = time.perf_counter()
                plan = await plan_run(session, campaign=planned_campaign, now=NOW)
                planned.append(time.perf_counter() - started)
            async with sessionmaker() as session:
                bare.append(await bare_insert(session, round_number))
        async with sessionmaker() as session:
            rows = await session.scalar(select(func.count()).where(Delivery.run_id == plan.run.id))
    finally:
        await engine.dispose()
    return {
        "database": engine.dialect.name,
        "subscribers": subscribers,
        "deliveries": rows,
        "queued": plan.queued,
        "excluded": plan.excluded,
        "seconds": round(min(planned), 2),
        "rows_per_s": round(subscribers / min(planned)),
        "baseline_seconds": round(min(bare), 2),
        "ratio_to_baseline": round(min(planned) / min(bare), 2),
    }


async def bare_insert(session: AsyncSession, round_number: int) -> float:
    """The least an outbox can cost: one constant row per subscriber, one statement."""
    baseline = await campaign(session, f"bare{round_number}")
    run = Run(campaign_id=baseline.id, status=RunStatus.DONE, scheduled_for=NOW, started_at=NOW)
    session.add(run)
    await session.flush()
    target, variant = baseline.targets[-1], baseline.targets[-1].variants[0]
    rows = select(
        literal(run.id),
        Subscriber.id,
        literal(target.id),
        literal(variant.id),
        literal("queued"),
        literal(0),
    )
    columns = ["run_id", "subscriber_id", "target_id", "variant_id", "status", "attempts"]
    started = time.perf_counter()
    await session.execute(insert(Delivery).from_select(columns, rows))
    await session.commit()
    return time.perf_counter() - started


# -- (b), (c) sending ----------------------------------------------------------------------


def serve_emulator(users: int, connection: Connection) -> None:
    """The child process: an emulator knowing `users` chats, until told to stop."""

    async def serve() -> None:
        async with Emulator(Limits(enabled=False)) as emulator:
            for user_id in range(1, users + 1):
                emulator.add_user(user_id, first_name=f"User{user_id}")
            # The garbage collector's full collections stopped the emulator for 20-160 ms:
            # where the kernel does not tell when a request arrived, it then read what had
            # queued meanwhile as a burst (sends paced right below the limit counted as over
            # it), and everywhere its answers came late. Without the collector (this
            # process lives for one benchmark) it reads and answers them as they come.
            gc.freeze()
            gc.disable()
            connection.send(emulator.base_url)
            await asyncio.get_running_loop().run_in_executor(None, connection.recv)

    asyncio.run(serve())


@contextmanager
def spawned(serve: Callable[..., None], *args: object) -> Iterator[tuple[str, Connection]]:
    """`serve(*args, pipe)` in a process of its own, which sends its URL down the pipe once
    it is up and stops when it reads "stop"; yields that URL and our end of the pipe."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=serve, args=(*args, theirs), daemon=True)
    process.start()
    try:
        yield str(ours.recv()), ours
    finally:
        ours.send("stop")
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


@contextmanager
def emulator_process(users: int) -> Iterator[str]:
    """An emulator in a process of its own; yields its base URL."""
    with spawned(serve_emulator, users) as (base_url, _):
        yield base_url


async def planned(
    sessionmaker: async_sessionmaker[AsyncSession], name: str, *, audience: int, paid: bool
) -> Plan:
    """A run of a fresh campaign to the first `audience` subscribers, planned (queued)."""
    async with sessionmaker() as session:
        await session.execute(
            text(
                "UPDATE subscribers SET status = CASE WHEN id <= :n THEN 'active'"
                " ELSE 'unsubscribed' END"
            ),
            {"n": audience},
        )
        spec = parse_campaign(
            CAMPAIGN.format(name=name, holdout=0)
            + ("paid_broadcast: {stars_budget: 100000}\n" if paid else "")
        )
        sent_campaign = await save_campaign(
            session, spec=spec, now=NOW, public_url=PUBLIC_URL, paid_broadcasts=paid
        )
        return await plan_run(session, campaign=sent_campaign, now=datetime.now(UTC))


async def send_run(
    sessionmaker: async_sessionmaker[AsyncSession],
    base_url: str,
    budget: RateBudget,
    name: str,
    *,
    audience: int,
    paid: bool = False,
    in_flight: int | None = None,
) -> tuple[int, float, float]:
    """Plan a run of a fresh campaign to the first `audience` subscribers and send it all
    (`in_flight`: the sender's bound on messages on their way; None: its own); (messages,
    seconds, CPU seconds of this process: the sender with its database and HTTP work, the
    emulator not included)."""
    plan = await planned(sessionmaker, name, audience=audience, paid=paid)
    settings = load_settings(bot_token=TOKEN, telegram_api_base=base_url)
    sender_settings = SenderSettings(
        public_url=PUBLIC_URL, secret=SECRET, paid_broadcasts=paid, in_flight=in_flight
    )
    async with TelegramMessenger.from_settings(settings) as messenger:
        sender = Sender(sessionmaker, messenger, budget, sender_settings)
        started, cpu = time.perf_counter(), time.process_time()
        result = await sender.deliver(plan.run.id)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if result is not BatchResult.FINISHED:
        raise RuntimeError(f"the run ended {result.value}, not finished")
    return plan.queued, elapsed, cpu


async def replay(base_url: str, requests: list[dict[str, Any]]) -> tuple[float, float]:
    """The baseline: the same sendMessage requests from a bare aiohttp loop; (seconds,
    CPU seconds)."""
    url = f"{base_url}/bot{TOKEN}/sendMessage"
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def post(params: dict[str, Any]) -> None:
            async with http.post(url, json=params) as response:
                await response.read()

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(post(request["params"]) for request in requests))
        return time.perf_counter() - started, time.process_time() - cpu


async def crash_safe_replay(
    sessionmaker: async_sessionmaker[AsyncSession],
    base_url: str,
    requests: list[dict[str, Any]],
    run_id: int,
) -> tuple[float, float]:
    """The floor under any sender that never sends a message twice, whatever dies: the
    baseline's requests and connections, sent CLAIM_CAP at a time, each batch claimed in the
    database before it is sent (one UPDATE of its deliveries) and recorded after (one UPDATE
    per message, in one statement run and one commit); nothing else. The planned run
    `run_id` has a queued delivery per request. (seconds, CPU seconds)"""

    async def replayed(_session: AsyncSession, first: int, keys: list[int]) -> list[Params]:
        return [request["params"] for request in requests[first : first + len(keys)]]

    return await _claimed_batches(sessionmaker, base_url, run_id, replayed, expected=len(requests))


async def composing_replay(
    sessionmaker: async_sessionmaker[AsyncSession], base_url: str, run_id: int
) -> tuple[float, float]:
    """The floor under a sender that also does the work each of segbot's messages needs:
    the crash-safe floor, with each batch's requests made as the sender makes them, once
    claimed: its recipients and their template variables loaded (`recipients`), each
    message composed (`compose`: its template rendered, its links signed) and built into
    its request, the batch marked attempted (`mark_attempted`: the mark that keeps a
    message that may have arrived from going twice) before its requests go. What the
    sender does beyond it is its per-message machinery: a task, a rate slot and a
    deadline for each message, the pipeline's bounds, retries. The planned run `run_id`
    is the sender's campaign's. (seconds, CPU seconds)"""
    async with sessionmaker() as session:
        run = await session.get_one(Run, run_id)
        campaign = await session.get_one(Campaign, run.campaign_id)
        variants = await prepare_variants(session, campaign=campaign, now=datetime.now(UTC))
        await session.commit()

    async def composed(session: AsyncSession, _first: int, keys: list[int]) -> list[Params]:
        batch = await recipients(session, delivery_ids=keys, campaign=campaign, variants=variants)
        messages = [
            compose(
                to,
                variants[to.variant_id],
                public_url=PUBLIC_URL,
                secret=SECRET,
                unsubscribe_button=campaign.unsubscribe_button,
            )
            for to in batch
        ]
        marked = await mark_attempted(session, keys, sender=FLOOR, now=datetime.now(UTC))
        if len(marked) != len(keys):
            raise RuntimeError(f"{len(keys) - len(marked)} claims of the floor were not marked")
        return [build_request(message).params for message in messages]

    return await _claimed_batches(sessionmaker, base_url, run_id, composed)


async def _claimed_batches(
    sessionmaker: async_sessionmaker[AsyncSession],
    base_url: str,
    run_id: int,
    requests_of: Callable[[AsyncSession, int, list[int]], Awaitable[list[Params]]],
    *,
    expected: int | None = None,
) -> tuple[float, float]:
    """The queued deliveries of `run_id`, CLAIM_CAP at a time, all batches at once on the
    baseline's connections: each batch claimed for FLOOR and committed, its requests made
    by `requests_of(session, its first index, its delivery ids)` in the claim's session,
    posted, and their answers recorded in one statement run and one commit. (seconds,
    CPU seconds)"""
    deliveries = DELIVERIES.c
    claim = (
        update(DELIVERIES)
        .where(among(deliveries.id, id_list("ids")), deliveries.status == DeliveryStatus.QUEUED)
        .values(status=DeliveryStatus.SENDING, claimed_at=bindparam("now"), claimed_by=FLOOR)
    )
    record = (
        update(DELIVERIES)
        .where(deliveries.id == bindparam("key"))
        .values(
            status=DeliveryStatus.SENT, sent_at=bindparam("now"), message_id=bindparam("message")
        )
    )
    async with sessionmaker() as session:
        ids = list(
            await session.scalars(
                select(deliveries.id)
                .where(deliveries.run_id == run_id, deliveries.status == DeliveryStatus.QUEUED)
                .order_by(deliveries.id)
            )
        )
    if expected is not None and len(ids) != expected:
        raise RuntimeError(f"{len(ids)} deliveries planned for {expected} requests")
    url = f"{base_url}/bot{TOKEN}/sendMessage"
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def post(params: Params) -> int:
            async with http.post(url, json=params) as response:
                answer = await response.json()
                return int(answer["result"]["message_id"])

        async def batch(first: int) -> None:
            keys = ids[first : first + CLAIM_CAP]
            async with sessionmaker() as session:
                await session.execute(claim, {"ids": keys, "now": datetime.now(UTC)})
                await session.commit()
                bodies = await requests_of(session, first, keys)
            messages = await asyncio.gather(*(post(params) for params in bodies))
            now = datetime.now(UTC)
            async with sessionmaker() as session:
                await session.execute(
                    record,
                    [
                        {"key": key, "message": message, "now": now}
                        for key, message in zip(keys, messages, strict=True)
                    ],
                )
                await session.commit()

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(batch(first) for first in range(0, len(ids), CLAIM_CAP)))
        return time.perf_counter() - started, time.process_time() - cpu


async def through_aiogram(base_url: str, requests: list[dict[str, Any]]) -> tuple[float, float]:
    """The floor: the same sendMessage requests by aiogram's `bot.send_message` on its own
    session (100 connections), every answer validated into a `Message`; (seconds, CPU
    seconds)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(base_url))
    bot = Bot(token=TOKEN, session=session)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(bot.send_message(**request["params"]) for request in requests))
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        await session.close()


async def measure_sending(
    url: str, messages: int, strict: int, paid: int, *, under_limits: bool = True
) -> dict[str, Any]:
    """(b) on the database at `url`, and (c) when `under_limits`."""
    engine = await fresh_database(url)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with sessionmaker() as session:
            await add_audience(session, max(messages, strict, paid))
        freeze_startup_heap()
        with emulator_process(max(messages, strict, paid)) as base_url:
            async with EmulatorClient(base_url) as control:
                figures = {
                    "database": engine.dialect.name,
                    "limits_off": await throughput(sessionmaker, base_url, control, messages),
                }
                if under_limits:
                    figures |= await limited(sessionmaker, base_url, control, strict, paid)
    finally:
        await engine.dispose()
    return figures


async def limited(
    sessionmaker: async_sessionmaker[AsyncSession],
    base_url: str,
    control: EmulatorClient,
    strict: int,
    paid: int,
) -> dict[str, Any]:
    """(c): each run against the emulator's limits as set just before it."""
    strict_runs = []
    for rate in STRICT_RATES:
        await control.set_limits(enabled=True, global_per_second=rate)
        strict_runs.append(await paced(sessionmaker, base_url, control, strict, rate=rate))
    await control.set_limits(
        global_per_second=int(FREE_RATE), hold_rate=HELD_SHARE, hold_seconds=HELD_SECONDS
    )
    held = await paced(sessionmaker, base_url, control, strict, rate=FREE_RATE)
    await control.set_limits(hold_rate=0.0, global_per_second=30, paid_per_second=int(PAID_RATE))
    paid_lane = await paced(sessionmaker, base_url, control, paid, rate=FREE_RATE, paid=PAID_RATE)
    return {
        "strict_limit": strict_runs,
        "strict_limit_1pct_held_35s": held,
        "paid_lane": paid_lane,
    }


async def throughput(
    sessionmaker: async_sessionmaker[AsyncSession],
    base_url: str,
    control: EmulatorClient,
    messages: int,
) -> dict[str, Any]:
    """Wall-clock rates are capped by the emulator (a process of its own, on the other
    core); CPU rates say what one core of sender can do, whatever serves it."""
    sender: list[tuple[float, float]] = []
    bounded: list[tuple[float, float]] = []  # at the baseline's concurrency
    baseline: list[tuple[float, float]] = []
    floor: list[tuple[float, float]] = []
    crash_safe: list[tuple[float, float]] = []
    composing: list[tuple[float, float]] = []
    for round_number in range(ROUNDS):
        for timings, in_flight in ((sender, None), (bounded, CONNECTIONS)):
            # The last run's requests (tens of thousands of objects, the benchmark's, not
            # the sender's) leave the heap first: a full collection would walk them.
            requests: list[dict[str, Any]] = []
            await control.clear_requests()
            budget = RateBudget(UNLIMITED_RATE, chat_spacing=0, slots=LocalSlots(start_after=0))
            name = f"fast{round_number}-{in_flight}"
            sent, *timing = await send_run(
                sessionmaker, base_url, budget, name, audience=messages, in_flight=in_flight
            )
            timings.append((timing[0], timing[1]))
            requests = await control.requests("sendMessage")
            if sum(1 for request in requests if request["ok"]) != sent:
                raise RuntimeError("the emulator did not accept every message")
        baseline.append(await replay(base_url, requests))
        floor.append(await through_aiogram(base_url, requests))
        plan = await planned(sessionmaker, f"floor{round_number}", audience=messages, paid=False)
        crash_safe.append(await crash_safe_replay(sessionmaker, base_url, requests, plan.run.id))
        plan = await planned(
            sessionmaker, f"composing{round_number}", audience=messages, paid=False
        )
        composing.append(await composing_replay(sessionmaker, base_url, plan.run.id))
    best, bare = min(sender), min(baseline)
    best_cpu, bare_cpu = min(cpu for _, cpu in sender), min(cpu for _, cpu in baseline)
    bounded_cpu, aiogram_cpu = min(cpu for _, cpu in bounded), min(cpu for _, cpu in floor)
    safe_cpu = min(cpu for _, cpu in crash_safe)
    composing_cpu = min(cpu for _, cpu in composing)
    return {
        "messages": messages,
        "messages_per_s": round(messages / best[0]),
        "baseline_messages_per_s": round(messages / bare[0]),
        "ratio_to_baseline": round(best[0] / bare[0], 2),
        "cpu_messages_per_s": round(messages / best_cpu),
        "baseline_cpu_messages_per_s": round(messages / bare_cpu),
        "cpu_ratio_to_baseline": round(best_cpu / bare_cpu, 2),
        "at_baseline_concurrency": {
            "in_flight": CONNECTIONS,
            "messages_per_s": round(messages / min(bounded)[0]),
            "cpu_messages_per_s": round(messages / bounded_cpu),
            "cpu_ratio_to_baseline": round(bounded_cpu / bare_cpu, 2),
        },
        "aiogram_cpu_messages_per_s": round(messages / aiogram_cpu),
        "aiogram_cpu_ratio_to_baseline": round(aiogram_cpu / bare_cpu, 2),
        "crash_safe_cpu_ratio_to_baseline": round(safe_cpu / bare_cpu, 2),
        "cpu_ratio_to_crash_safe": round(best_cpu / safe_cpu, 2),
        "composing_cpu_ratio_to_baseline": round(composing_cpu / bare_cpu, 2),
        "cpu_ratio_to_composing": round(best_cpu / composing_cpu, 2),
    }


async def paced(
    sessionmaker: async_sessionmaker[AsyncSession],
    base_url: str,
    control: EmulatorClient,
    messages: int,
    *,
    rate: float,
    paid: float | None = None,
) -> dict[str, Any]:
    """One run with the sender at `rate` (or its paid lane at `paid`) against the emulator
    as its limits are set now; what the emulator saw."""
    await control.clear_requests()
    budget = RateBudget(rate, paid_per_second=paid)
    name = f"paced{rate:g}-{paid or 0:g}-{time.monotonic_ns()}"
    sent, seconds, _ = await send_run(
        sessionmaker, base_url, budget, name, audience=messages, paid=paid is not None
    )
    requests = await control.requests("sendMessage")
    accepted = sorted(float(str(request["at"])) for request in requests if request["ok"])
    achieved = (len(accepted) - 1) / (accepted[-1] - accepted[0])
    limit = paid or rate
    return {
        "messages": sent,
        "limit_per_s": limit,
        "achieved_per_s": round(achieved, 1),
        "fraction_of_limit": round(achieved / limit, 3),
        "emulator_429s": sum(1 for request in requests if request["status"] == 429),
        "max_in_any_second": busiest_second(accepted),
        "seconds": round(seconds, 2),
    }


def busiest_second(times: list[float]) -> int:
    """The most sends in any window [t, t + 1 s) of the sorted `times`: the emulator's
    window, which a send enters when read and leaves a full second later."""
    busiest, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - 1.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    return busiest


# -- main ----------------------------------------------------------------------------------


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a quick run with fewer of all")
    parser.add_argument("--postgres", default=POSTGRES, help="'' to skip PostgreSQL")
    parser.add_argument(
        "--only", choices=["planning", "sending"], help="measure (a), or (b) and (c), alone"
    )
    arguments = parser.parse_args()
    subscribers = 50_000 if arguments.small else 1_000_000
    messages, strict, paid = (3_000, 300, 1_000) if arguments.small else (20_000, 3_000, 5_000)
    figures: dict[str, Any] = {"benchmark": "broadcast"}
    with tempfile.TemporaryDirectory() as folder:
        if arguments.only != "sending":
            sqlite = f"sqlite+aiosqlite:///{Path(folder) / 'plan.db'}"
            figures["planning"] = [await measure_planning(sqlite, subscribers)]
        if arguments.only != "planning":
            figures["sending"] = [
                await measure_sending(
                    f"sqlite+aiosqlite:///{Path(folder) / 'send.db'}", messages, strict, paid
                )
            ]
    on_postgres: dict[str, Callable[[str], Awaitable[dict[str, Any]]]] = {
        "planning": lambda url: measure_planning(url, subscribers),
        # (c) is the pacing's, not the database's: (b) only
        "sending": lambda url: measure_sending(url, messages, strict, paid, under_limits=False),
    }
    for measured, measure in on_postgres.items():
        if not arguments.postgres or measured not in figures:
            continue
        try:
            async with temporary_postgres_database(arguments.postgres, prefix="bench") as url:
                figures[measured].append(await measure(url))
        except OSError as unreachable:
            figures[measured].append({"database": "postgresql", "skipped": str(unreachable)})
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
