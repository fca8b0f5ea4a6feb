"""`segbot demo`: the real bot against the built-in Bot API emulator, on a temporary SQLite
file: a sample shop's CRM export imported, simulated subscribers, their segments, and a
segmented campaign scheduled and sent, the orders it brought, AI segments, a welcome
series and a "clicked but did not buy" follow-up (journeys: the bot runs on a clock the
demo can move a day ahead, demo/clock.py), and the owner reading /stats and /report in
the admin console (demo/*.py). Nothing leaves this machine: the settings are the demo's
own, whatever `SEGBOT_*` variables and `.env` say, so it never uses an operator's
database, Redis or bot. What it keeps, the chart images the owner received, goes to
`./segbot-demo/charts` (`OUTPUT`); everything else is deleted at the end.

The bot logs as `segbot run` does (bot.logs), warnings and errors only: a demo that went
well prints its tables and nothing else.

The demo is a list of steps (`STEPS`), each an async function of the `Demo` it runs in,
taken in order while the bot runs; adding a step is adding one line there. A step leaves
what later steps may need on the `Demo` (the campaign's id and run, for one).
"""

import asyncio
import os
import socket
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

from rich.console import Console
from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import migrations
from bot import runtime
from bot.config import AppConfig, load_app_config
from bot.logs import configure_logging
from broadcasts.links import LinkRef, register_links, tracked_url
from cli.tables import FittedTable, SafeConsole
from core.db import create_engine, create_sessionmaker
from core.errors import SegbotError
from core.languages import in_language
from core.models import Event, EventType, Subscriber
from core.quiz import Question
from core.settings import Settings, given_settings
from core.sources import customer_payload, utm_payload
from demo import admin, ai, campaign, journeys, report, shop
from demo.browser import BROWSER, PREVIEW, open_link
from demo.clock import DemoClock
from telegram_emulator import Emulator, SentMessage

T = TypeVar("T")

DEMO_TOKEN = "123456789:SEGBOT-DEMO-TOKEN"  # noqa: S105  (the emulator takes any token)
DEMO_SECRET = "segbot-demo-secret"  # noqa: S105  (a throwaway demo database)
STEP_TIMEOUT = 10.0
OUTPUT = Path("segbot-demo")  # in the working directory: what the demo keeps


@dataclass(frozen=True)
class SimulatedUser:
    user_id: int
    first_name: str
    language_code: str
    start: str  # the /start line, deep-link payload included
    interests: tuple[str, ...] = ()  # quiz labels to tick; none = skip the quiz
    phone: str | None = None
    then: tuple[str, ...] = field(default=())  # later commands, e.g. /stop


CAST = (
    SimulatedUser(1001, "Ana", "es", "/start promo_spring", ("Ofertas", "Eventos"), "+34600111222"),
    SimulatedUser(
        1002,
        "Boris",
        "ru",
        "/start " + utm_payload(source="vk", medium="cpc", campaign="autumn"),
        ("Новинки",),
    ),
    SimulatedUser(
        1003,
        "Chloe",
        "en",
        "/start " + customer_payload(shop.LINKED_CUSTOMER, secret=DEMO_SECRET),
        ("How-to guides",),
    ),
    SimulatedUser(1004, "Dev", "en", "/start newsletter", then=("/stop",)),
    SimulatedUser(
        1005,
        "Emma",
        "en",
        "/start not a valid payload!",
        ("Deals and discounts",),
        "+1 415 555 0100",
    ),
    SimulatedUser(1006, "Farid", "en", "/start promo_spring", then=("/stop", "/start")),
)

CROWD_SIZE = 18
CROWD_LANGUAGES = ("en", "es", "ru")


def _crowd(interests: Question) -> tuple[SimulatedUser, ...]:
    """CROWD_SIZE subscribers for the AI segments, each language and set of `interests`
    (the quiz's first question, as the bot shows it in that language) in turn."""
    crowd = []
    for number in range(1, CROWD_SIZE + 1):
        language = CROWD_LANGUAGES[number % len(CROWD_LANGUAGES)]
        labels = [in_language(option.label, language) for option in interests.options]
        picked = [label for bit, label in enumerate(labels) if number >> bit & 1] or labels
        crowd.append(
            SimulatedUser(1100 + number, f"Guest {number}", language, "/start", tuple(picked))
        )
    return tuple(crowd)


DEMO_ADMIN = 1000  # the shop's owner, in SEGBOT_ADMIN_IDS
CAMPAIGN_SAMPLES = (1001, 1005, 1003)  # one of each: Spanish, deal seeker, everyone else
# The running bot looks for newly saved campaigns this often (60 s in production).
DEMO_CONFIG = "crm:\n  default_region: ES\nbroadcasts:\n  schedule_sync_seconds: 1\n"


@dataclass
class Demo:
    """What the steps share. A step may set the fields below `bot` for later steps."""

    console: Console
    emulator: Emulator
    settings: Settings
    config: AppConfig  # the demo's segbot.yaml, loaded once
    workdir: Path  # a temporary folder for files (deleted at the end)
    charts: Path  # where the chart images the owner receives are saved (kept)
    bot: "asyncio.Task[None]"  # `segbot run`, running
    clock: DemoClock  # the bot's: a step may move it ahead
    campaign_id: int | None = None  # the segmented campaign the demo sent
    run_id: int | None = None  # and its run

    async def on_database(
        self, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
    ) -> T:
        return await _on_database(self.settings.database_url.get_secret_value(), work)


Step = Callable[[Demo], Awaitable[None]]


async def subscribers_arrive(demo: Demo) -> None:
    await asyncio.gather(*(_act(demo.emulator, user) for user in CAST))


async def follow_a_link(demo: Demo) -> None:
    database_url = demo.settings.database_url.get_secret_value()
    await _click_a_link(demo.settings, database_url)
    demo.console.print(await _subscriber_table(database_url))


async def segment_the_audience(demo: Demo) -> None:
    await demo.on_database(
        lambda sessionmaker: shop.segment(sessionmaker, demo.config.segments, demo.console)
    )


async def send_a_campaign(demo: Demo) -> None:
    sent = await demo.on_database(
        lambda sessionmaker: campaign.schedule_and_send(sessionmaker, demo.settings, demo.console)
    )
    demo.campaign_id, demo.run_id = sent.campaign_id, sent.run_id
    for user in CAST:
        if user.user_id in CAMPAIGN_SAMPLES:
            received = demo.emulator.messages_to(user.user_id)[-1]
            demo.console.print(f"{user.first_name} got: {received.plain_text}")


async def shop_orders_convert(demo: Demo) -> None:
    await demo.on_database(
        lambda sessionmaker: report.buy_and_report(
            sessionmaker,
            campaign=str(demo.campaign_id),
            crm=demo.config.crm,
            folder=demo.workdir,
            console=demo.console,
        )
    )


async def find_ai_segments(demo: Demo) -> None:
    """A crowd takes the quiz first: clusters that replicate need more people than six."""
    crowd = _crowd(demo.config.quiz.questions[0])
    await asyncio.gather(*(_act(demo.emulator, user) for user in crowd))
    demo.console.print(
        f"{len(crowd)} more people subscribed and told the quiz their interests, in English, "
        "Spanish or Russian."
    )
    await demo.on_database(lambda sessionmaker: ai.show_ai_segments(sessionmaker, demo.console))


async def journeys_welcome_and_follow_up(demo: Demo) -> None:
    starts = {
        journeys.GINA: "/start",
        journeys.HUGO: "/start",
        journeys.IVY: "/start " + customer_payload(journeys.IVY_CUSTOMER, secret=DEMO_SECRET),
    }
    await demo.on_database(
        lambda sessionmaker: journeys.welcome_and_follow_up(
            sessionmaker,
            demo.emulator,
            starts=starts,
            settings=demo.settings,
            clock=demo.clock,
            crm=demo.config.crm,
            folder=demo.workdir,
            console=demo.console,
        )
    )


async def admin_looks_at_the_results(demo: Demo) -> None:
    await admin.show_admin_console(
        demo.emulator,
        DEMO_ADMIN,
        into=demo.charts,
        campaign_id=demo.campaign_id,
        journey=journeys.JOURNEYS[0],
        console=demo.console,
    )


# In order, while the bot runs: add a step here.
STEPS: tuple[Step, ...] = (
    subscribers_arrive,
    follow_a_link,
    segment_the_audience,
    send_a_campaign,
    shop_orders_convert,
    find_ai_segments,
    journeys_welcome_and_follow_up,
    admin_looks_at_the_results,
)


async def run(console: Console | None = None, *, output: Path = OUTPUT) -> None:
    """The whole demo; the charts go to `output`/charts (created, files of the same name
    replaced). A folder that cannot be written is said at once, before anything runs."""
    console = console or SafeConsole()
    charts = _writable_folder(output / "charts")
    with tempfile.TemporaryDirectory(prefix="segbot-demo-") as workdir:
        database_url = f"sqlite+aiosqlite:///{Path(workdir) / 'demo.db'}"
        config_path = Path(workdir) / "segbot.yaml"
        config_path.write_text(DEMO_CONFIG, encoding="utf-8")
        config = load_app_config(config_path)
        async with Emulator() as emulator:
            port = _free_port()
            settings = given_settings(  # none of the operator's: no environment, no .env
                bot_token=DEMO_TOKEN,
                secret_key=DEMO_SECRET,
                database_url=database_url,
                telegram_api_base=emulator.base_url,
                web_port=port,
                public_url=f"http://127.0.0.1:{port}",
                config=config_path,
                admin_ids=(DEMO_ADMIN,),
                log_level="WARNING",
            )
            configure_logging(settings)
            console.print(f"segbot demo: Bot API emulator at {emulator.base_url}")
            export = shop.write_export(Path(workdir), now=datetime.now(UTC))
            await _on_database(
                database_url,
                lambda sessionmaker: shop.import_export(sessionmaker, export, config.crm, console),
            )
            clock = DemoClock()
            bot = asyncio.create_task(
                runtime.run(settings, config=config, clock=clock, handle_signals=False)
            )
            demo = Demo(console, emulator, settings, config, Path(workdir), charts, bot, clock)
            try:
                for step in STEPS:
                    await _alongside(bot, step(demo))
            finally:
                bot.cancel()
                await asyncio.gather(bot, return_exceptions=True)
            console.print(f"The bot made {len(emulator.requests)} Bot API requests.")


async def _act(emulator: Emulator, user: SimulatedUser) -> None:
    """One subscriber's session: /start, the quiz (or skipping it), a phone, later commands."""
    emulator.add_user(user.user_id, first_name=user.first_name, language_code=user.language_code)
    await emulator.send_text(user.user_id, user.start)
    _, question = await emulator.wait_for_messages(user.user_id, count=2, timeout=STEP_TIMEOUT)
    if user.interests:
        for label in user.interests:
            await emulator.press_button(user.user_id, question.message_id, _button(question, label))
            question = await _until(partial(_ticked, emulator, question, label))
        await emulator.press_button(user.user_id, question.message_id, question.callback_data()[-2])
        question = await _next_message(emulator, user.user_id)
    await emulator.press_button(user.user_id, question.message_id, question.callback_data()[-1])
    await _next_message(emulator, user.user_id)  # the thanks, with the phone button
    if user.phone:
        await emulator.share_contact(user.user_id, user.phone)
        await _next_message(emulator, user.user_id)
    for command in user.then:
        await emulator.send_text(user.user_id, command)
        await _next_message(emulator, user.user_id)


async def _click_a_link(settings: Settings, database_url: str) -> None:
    """What a broadcast's tracked link does: a preview fetch (not a click), then a click."""
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            links = await register_links(
                session,
                ["https://shop.example/autumn-sale"],
                campaign="autumn",
                content="demo",
                tags=["interest:deals"],
                now=datetime.now(UTC),
            )
            await session.commit()
            ana = await session.scalar(select(Subscriber.id).where(Subscriber.telegram_id == 1001))
    finally:
        await engine.dispose()
    if ana is None:
        raise RuntimeError("the demo's first subscriber is missing")
    url = tracked_url(
        settings.public_url,
        LinkRef(links["https://shop.example/autumn-sale"], ana),
        secret=DEMO_SECRET,
    )
    await open_link(url, agents=(PREVIEW, BROWSER))


def _button(message: SentMessage, label: str) -> str:
    return next(data for text, data in message.callback_buttons() if label in text)


def _ticked(emulator: Emulator, question: SentMessage, label: str) -> SentMessage | None:
    current = next(
        m for m in emulator.messages_to(question.chat_id) if m.message_id == question.message_id
    )
    return current if f"✓ {label}" in str(current.reply_markup) else None


async def _next_message(emulator: Emulator, user_id: int) -> SentMessage:
    count = len(emulator.messages_to(user_id)) + 1
    return (await emulator.wait_for_messages(user_id, count=count, timeout=STEP_TIMEOUT))[-1]


async def _until(probe: Callable[[], T | None]) -> T:
    """Wait for a state the emulator has no event for (a keyboard edit)."""
    async with asyncio.timeout(STEP_TIMEOUT):
        while (found := probe()) is None:  # noqa: ASYNC110  (edits raise no event)
            await asyncio.sleep(0.02)
    return found


async def _alongside(bot: "asyncio.Task[None]", work: Awaitable[T]) -> T:
    """Await `work`, but fail at once if the bot stops first instead of timing out."""
    job = asyncio.ensure_future(work)
    await asyncio.wait({bot, job}, return_when=asyncio.FIRST_COMPLETED)
    if not job.done():
        job.cancel()
        bot.result()  # re-raises why the bot stopped
        raise RuntimeError("the bot stopped before the demo step was done")
    return job.result()


async def _on_database(
    url: str, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    engine = create_engine(url)
    try:
        await migrations.make_ready(engine, upgrade_in_place=True)
        return await work(create_sessionmaker(engine))
    finally:
        await engine.dispose()


def _writable_folder(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror
    else:
        if os.access(folder, os.W_OK):
            return folder
        reason = "not writable"
    raise SegbotError(
        f"the demo keeps its charts in {folder}, which cannot be written ({reason}): "
        "run it from a folder you can write to"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _subscriber_table(database_url: str) -> FittedTable:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:

            def count(kind: EventType) -> ScalarSelect[int]:
                return (
                    select(func.count())
                    .where(Event.subscriber_id == Subscriber.id, Event.type == kind)
                    .scalar_subquery()
                )

            rows = (
                await session.execute(
                    select(
                        Subscriber, count(EventType.LINK_CLICK), count(EventType.QUIZ_ANSWER)
                    ).order_by(Subscriber.id)
                )
            ).all()
    finally:
        await engine.dispose()
    table = FittedTable(
        "user", "lang", "source (first touch)", "utm", "status", "interests", "phone",
        "quiz answers", "link clicks", title="Simulated subscribers",
    )  # fmt: skip
    for subscriber, clicks, answers in rows:
        utm = " / ".join(filter(None, (subscriber.utm_medium, subscriber.utm_campaign)))
        table.add_row(
            subscriber.first_name or str(subscriber.telegram_id),
            subscriber.language_code or "",
            subscriber.source or "—",
            utm or "—",
            subscriber.status.value,
            ", ".join(subscriber.attributes.get("interests", [])) or "—",
            subscriber.phone or "—",
            str(answers),
            str(clicks),
        )
    return table
