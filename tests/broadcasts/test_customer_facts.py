"""What a template sees of a customer: the total spent as the exact decimal the database
holds (a SQLite sum of 500.47 and 366.44 is 866.9100000000001), and the currency of
their latest purchase, else the shop's, in previews and sends alike."""

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.compose import subscriber_context
from broadcasts.pacing import LocalSlots, RateBudget
from broadcasts.planner import plan_run
from broadcasts.sender import BatchResult, Sender, SenderSettings
from broadcasts.templates import CustomerFacts
from core.models import Subscriber, SubscriberTag
from crm_sync.facts import refresh_facts
from crm_sync.models import Customer, Order
from segments.models import LadderStage
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from, yaml_lines
from tests.broadcasts.fake_messenger import FakeMessenger

IN_SPANISH_ONLY = yaml_lines(
    "name: thanks",
    "default:",
    "  text:",
    "    en: 'Thanks, {{ first_name }}'",
    "    es: >-",
    "      {{ first_name }}: {{ customer.orders }} {{ 9.5 | money }} {{ tags | join(',') }}",
    "      {{ stage }} {{ attr.tier }} {{ city }}",
)

CAMPAIGN = yaml_lines(
    "name: thanks",
    "default:",
    "  text: '{{ customer.total_spent }} = {{ customer.total_spent | money }}'",
)


async def buys(
    session: AsyncSession, subscriber_id: int, *orders: tuple[str, str, int, bool]
) -> None:
    """Orders (amount, currency, days ago, counts as a purchase) of a new customer linked
    to the subscriber, with their facts refreshed as the CRM sync does."""
    customer = Customer(
        source="shop", external_id=str(subscriber_id), attributes={},
        subscriber_id=subscriber_id, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    session.add(customer)
    await session.flush()
    for number, (amount, currency, days_ago, purchase) in enumerate(orders):
        session.add(
            Order(
                source="shop", external_id=f"{subscriber_id}-{number}", customer_id=customer.id,
                ordered_at=NOW - timedelta(days=days_ago), amount=float(amount),
                currency=currency, counts_as_purchase=purchase, created_at=NOW, updated_at=NOW,
            )
        )  # fmt: skip
    await session.flush()
    await refresh_facts(session, customer_ids=[customer.id])
    await session.commit()


async def texts_sent(sessionmaker: async_sessionmaker[AsyncSession], run_id: int) -> dict[int, str]:
    """The run sent to the end: the text each chat got."""
    messenger = FakeMessenger()
    settings = SenderSettings(public_url="http://bot.test", secret="s")
    rate = RateBudget(1000, chat_spacing=0, slots=LocalSlots(start_after=0))
    sender = Sender(sessionmaker, messenger, rate, settings)
    assert await sender.deliver(run_id) is BatchResult.FINISHED
    return {message.chat_id: message.text for message in messenger.sent}


async def test_money_reaches_templates_exact_with_its_currency(session: AsyncSession) -> None:
    [spanish] = await add_subscribers(session, 1, first_id=1, language="es")
    [american, newcomer] = await add_subscribers(session, 2, first_id=2, language="en")
    await buys(session, spanish, ("500.47", "EUR", 9, True), ("366.44", "EUR", 5, True))
    await buys(  # a later refund in another currency is not their latest purchase
        session, american, ("500.47", "USD", 8, True), ("366.44", "USD", 6, True),
        ("20.00", "GBP", 1, False),
    )  # fmt: skip
    campaign = await campaign_from(session, CAMPAIGN)
    context = await subscriber_context(session, subscriber_id=spanish, campaign=campaign)
    assert context is not None
    assert context.customer == CustomerFacts(
        orders=2,
        total_spent=Decimal("866.91"),
        last_purchase=(NOW - timedelta(days=5)).date(),
        currency="EUR",
    )
    for subscriber, currency in ((american, "USD"), (newcomer, "GBP")):  # GBP: the shop's latest
        found = await subscriber_context(session, subscriber_id=subscriber, campaign=campaign)
        assert found is not None
        assert found.customer.currency == currency


async def test_what_is_sent_shows_the_exact_amount_in_the_subscribers_money(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    [spanish] = await add_subscribers(session, 1, first_id=1, language="es")
    [american, _newcomer] = await add_subscribers(session, 2, first_id=2, language="en")
    await buys(session, spanish, ("500.47", "EUR", 9, True), ("366.44", "EUR", 5, True))
    await buys(session, american, ("500.47", "USD", 8, True), ("366.44", "USD", 6, True))
    plan = await plan_run(session, campaign=await campaign_from(session, CAMPAIGN), now=NOW)
    assert await texts_sent(sessionmaker, plan.run.id) == {
        1: "866.91 = 866,91\xa0€",
        2: "866.91 = $866.91",
        3: "0.00 = €0.00",  # no purchases: the currency of the shop's latest order
    }


async def test_with_no_orders_anywhere_money_has_no_currency(session: AsyncSession) -> None:
    [subscriber] = await add_subscribers(session, 1, language="en")
    campaign = await campaign_from(session, CAMPAIGN)
    context = await subscriber_context(session, subscriber_id=subscriber, campaign=campaign)
    assert context is not None
    assert context.customer == CustomerFacts(total_spent=Decimal("0.00"), currency=None)


async def test_a_variable_only_one_language_reads_reaches_its_readers(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The sender loads only what a campaign's templates may read: what any of its
    languages reads is loaded for every recipient."""
    [spanish] = await add_subscribers(session, 1, first_id=1, language="es")
    await add_subscribers(session, 1, first_id=2, language="en")
    await buys(session, spanish, ("500.47", "EUR", 9, True), ("366.44", "EUR", 5, True))
    session.add(SubscriberTag(subscriber_id=spanish, tag="vip", added_at=NOW))
    session.add(LadderStage(subscriber_id=spanish, stage=3, evidence_at=NOW, changed_at=NOW))
    await session.commit()
    plan = await plan_run(session, campaign=await campaign_from(session, IN_SPANISH_ONLY), now=NOW)
    await session.execute(  # attributes and city are read as they are when sent
        update(Subscriber)
        .where(Subscriber.id == spanish)
        .values(attributes={"tier": "gold"}, city="Sevilla")
    )
    await session.commit()
    assert await texts_sent(sessionmaker, plan.run.id) == {
        1: "User1: 2 9,50\xa0€ vip product_aware gold Sevilla",
        2: "Thanks, User2",
    }
