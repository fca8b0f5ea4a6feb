"""Journeys under test: a clock the test moves, the runner and the real sender (against a
scripted messenger), and the ways subscribers act (subscribe, click, stop, buy)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.messenger import OutgoingMessage
from broadcasts.models import Delivery
from broadcasts.sender import Sender, SenderSettings, sending_runs
from core.models import Event, EventType, Subscriber
from core.subscribers import Profile, subscribe, unsubscribe
from crm_sync.models import Customer, Order
from journeys.models import Enrolment, JourneyStep
from journeys.runner import JourneyRunner, Round
from journeys.spec import parse_journey
from journeys.store import CLI_ACTOR, SavedJourney, save_journey
from segments.saved import save_segment
from tests.broadcasts.fake_messenger import FakeMessenger
from tests.broadcasts.test_sender import budget

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)  # a Monday, noon UTC
SETTINGS = SenderSettings(public_url="http://bot.test", secret="test-secret")
SERIES = """
name: series
trigger: subscribed
steps:
  - id: hello
    send: {text: Hello}
  - id: pause
    wait: 1d
  - id: later
    send: {text: Later}
"""  # a message on subscribing, another a day later


@dataclass
class FakeClock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Journeys:
    """A journey world: `round()` runs the runner once and sends whatever it queued."""

    sessionmaker: async_sessionmaker[AsyncSession]
    clock: FakeClock = field(default_factory=FakeClock)
    messenger: FakeMessenger = field(default_factory=FakeMessenger)
    runner: JourneyRunner = field(init=False)
    sender: Sender = field(init=False)

    def __post_init__(self) -> None:
        self.runner = JourneyRunner(self.sessionmaker, clock=self.clock)
        self.sender = Sender(
            self.sessionmaker, self.messenger, budget(), SETTINGS, clock=self.clock
        )

    async def start(self) -> None:
        """The runner's first round: its feeds start at the end of what is logged."""
        await self.runner.run_round()

    async def save(self, text: str, *, move: bool = False) -> SavedJourney:
        async with self.sessionmaker() as session:
            return await save_journey(
                session, spec=parse_journey(text), source=text, now=self.clock(),
                actor=CLI_ACTOR, move=move,
            )  # fmt: skip

    async def segment(self, name: str, rule: str) -> None:
        async with self.sessionmaker() as session:
            await save_segment(session, name=name, rule_text=rule, now=self.clock())

    async def round(self) -> Round:
        done = await self.runner.run_round()
        await self.send_queued()
        return done

    async def send_queued(self) -> None:
        async with self.sessionmaker() as session:
            runs = await sending_runs(session)
        for run_id in runs:
            await self.sender.deliver(run_id)

    async def subscribe(self, telegram_id: int, *, source: str | None = None) -> int:
        from core.sources import StartSource

        async with self.sessionmaker() as session:
            subscriber, _ = await subscribe(
                session,
                profile=Profile(
                    telegram_id, telegram_id, first_name=f"User{telegram_id}", language_code="en"
                ),
                source=None if source is None else StartSource(name=source),
                now=self.clock(),
            )
        return subscriber.id

    async def stop(self, telegram_id: int) -> None:
        async with self.sessionmaker() as session:
            await unsubscribe(session, telegram_id=telegram_id, now=self.clock())

    async def log(
        self, subscriber_id: int, kind: EventType, payload: dict[str, Any] | None = None, *,
        delivery_id: int | None = None,
    ) -> None:  # fmt: skip
        async with self.sessionmaker() as session:
            session.add(
                Event(
                    subscriber_id=subscriber_id, type=kind, occurred_at=self.clock(),
                    payload=payload or {}, delivery_id=delivery_id,
                )
            )  # fmt: skip
            await session.commit()

    async def click(self, subscriber_id: int, *, step: str, tags: list[str] | None = None) -> None:
        """A click on a link of the message `step` sent them."""
        delivery = await self.delivery_of(subscriber_id, step)
        await self.log(
            subscriber_id, EventType.LINK_CLICK, {"tags": tags or []}, delivery_id=delivery
        )

    async def buy(self, subscriber_id: int, amount: str = "50.00", *, order: str = "o1") -> None:
        """A CRM order of a customer linked to the subscriber."""
        async with self.sessionmaker() as session:
            customer = await session.scalar(
                select(Customer).where(Customer.subscriber_id == subscriber_id)
            )
            if customer is None:
                customer = Customer(
                    source="shop", external_id=f"c{subscriber_id}", subscriber_id=subscriber_id,
                    attributes={}, created_at=self.clock(), updated_at=self.clock(),
                )  # fmt: skip
                session.add(customer)
                await session.flush()
            session.add(
                Order(
                    source="shop", external_id=order, customer_id=customer.id,
                    ordered_at=self.clock(), amount=Decimal(amount), created_at=self.clock(),
                    updated_at=self.clock(),
                )
            )  # fmt: skip
            await session.commit()

    async def delivery_of(self, subscriber_id: int, step: str) -> int | None:
        async with self.sessionmaker() as session:
            return await session.scalar(
                select(JourneyStep.delivery_id)
                .join(Enrolment, Enrolment.id == JourneyStep.enrolment_id)
                .where(Enrolment.subscriber_id == subscriber_id, JourneyStep.step == step)
                .order_by(JourneyStep.id.desc())
                .limit(1)
            )

    def texts(self, chat_id: int) -> list[str]:
        return [message.text for message in self.messenger.to(chat_id)]

    async def enrolments(self, subscriber_id: int) -> list[Enrolment]:
        async with self.sessionmaker() as session:
            rows = await session.scalars(
                select(Enrolment)
                .where(Enrolment.subscriber_id == subscriber_id)
                .order_by(Enrolment.id)
            )
            return list(rows.all())

    async def deliveries(self) -> int:
        async with self.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).select_from(Delivery)) or 0)


async def shop_history(session: AsyncSession, count: int, *, at: datetime) -> None:
    """`count` customers of the source "history", one order each, none linked to a
    subscriber: a shop's history just imported; commits."""
    stamps = {"created_at": at, "updated_at": at}
    customers = [
        {"source": "history", "external_id": f"c{n}", "attributes": {}, **stamps}
        for n in range(count)
    ]
    await session.execute(insert(Customer), customers)
    rows = await session.execute(
        select(Customer.external_id, Customer.id).where(Customer.source == "history")
    )
    ids = dict(rows.all())
    orders = [
        {
            "source": "history", "external_id": f"o{n}", "customer_id": ids[f"c{n}"],
            "ordered_at": at, "amount": Decimal("20.00"), **stamps,
        }
        for n in range(count)
    ]  # fmt: skip
    await session.execute(insert(Order), orders)
    await session.commit()


def sent_to(messages: list[OutgoingMessage], chat_id: int) -> list[str]:
    return [message.text for message in messages if message.chat_id == chat_id]


async def subscriber_row(session: AsyncSession, subscriber_id: int) -> Subscriber:
    found = await session.get(Subscriber, subscriber_id, populate_existing=True)
    assert found is not None
    return found
