"""From a claimed delivery to the message itself: the subscriber's template variables
(loaded for a whole batch in one query), the rendered variant, and every URL in it (text
and buttons) rewritten to a tracked link carrying the subscriber and the delivery.

Money reaches templates exact: the total spent is read back as the Decimal the database
holds (to the cent), never as the float a SQLite sum gives (866.9100000000001). Its
currency, which the `money` filter shows, is that of the subscriber's latest purchase,
else that of the shop's latest order, else unknown. An order the CRM sent without a
currency was given crm.default_currency when it was imported.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import jinja2
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.links import LinkRef, register_links, rewrite_urls, tracked_url, urls_in
from broadcasts.messenger import Button, OutgoingMessage
from broadcasts.models import Campaign, Delivery
from broadcasts.templates import CustomerFacts, TemplateContext, compile_template, render
from core.models import Subscriber, SubscriberTag
from crm_sync.models import Customer, Order
from segments.levels import STAGES
from segments.models import LadderStage
from segments.rules.fields import PurchaseFact
from segments.rules.sql_facts import purchase_fact, rfm_segment

# The callback data the bot's Unsubscribe handler answers (bot.routers.subscription).
UNSUBSCRIBE_DATA = "unsubscribe"
UNSUBSCRIBE_TEXT = "Unsubscribe"
CENT = Decimal("0.01")  # money columns are NUMERIC(14, 2)


@dataclass(frozen=True, slots=True)
class PreparedVariant:
    """A variant ready to send many times: template compiled, its links registered."""

    variant_id: int
    target_label: str
    template: jinja2.Template
    photo: str | None
    buttons: tuple[Button, ...]
    links: dict[str, int]  # URL -> Link id, for utm_content "target/variant"


@dataclass(frozen=True, slots=True)
class Recipient:
    """One claimed delivery and what its template needs to know of the subscriber."""

    delivery_id: int
    subscriber_id: int
    variant_id: int
    chat_id: int
    context: TemplateContext


async def prepare_variants(
    session: AsyncSession, *, campaign: Campaign, now: datetime
) -> dict[int, PreparedVariant]:
    """Every variant of the campaign by id, links registered (the caller commits)."""
    prepared = {}
    for target in campaign.targets:
        for variant in target.variants:
            buttons = tuple(Button(**button) for button in variant.buttons)
            urls = urls_in(variant.body) + [b.url for b in buttons if b.url and b.url[:4] == "http"]
            links = await register_links(
                session,
                urls,
                campaign=campaign.name,
                content=f"{target.label}/{variant.name}",
                now=now,
            )
            prepared[variant.id] = PreparedVariant(
                variant_id=variant.id,
                target_label=target.label,
                template=compile_template(variant.body),
                photo=variant.photo,
                buttons=buttons,
                links=links,
            )
    return prepared


def _facts() -> tuple[Any, ...]:
    """Columns for a subscriber's template variables, correlated to `subscribers`."""
    stage = (
        select(LadderStage.stage)
        .where(LadderStage.subscriber_id == Subscriber.id)
        .scalar_subquery()
    )
    return (
        Subscriber,
        purchase_fact(PurchaseFact.COUNT),
        purchase_fact(PurchaseFact.TOTAL),
        purchase_fact(PurchaseFact.LAST),
        rfm_segment(),
        stage,
        _currency(),
    )


def _currency() -> ColumnElement[str | None]:
    """The currency of the subscriber's latest purchase, else of the shop's latest order
    (the same for every row: the database computes it once)."""
    latest = (Order.ordered_at.desc(), Order.id.desc())
    known = Order.currency.is_not(None)
    purchased = (
        select(Order.currency)
        .join(Customer, Customer.id == Order.customer_id)
        .where(
            Customer.subscriber_id == Subscriber.id,
            Order.counts_as_purchase,
            Order.amount > 0,  # a purchase as crm_sync.facts counts one
            known,
        )
        .order_by(*latest)
        .limit(1)
        .scalar_subquery()
    )
    shop = select(Order.currency).where(known).order_by(*latest).limit(1).scalar_subquery()
    return func.coalesce(purchased, shop)


async def recipients(
    session: AsyncSession, *, delivery_ids: Sequence[int], campaign: Campaign
) -> list[Recipient]:
    """The claimed deliveries with their subscribers' template variables, in id order."""
    rows = await session.execute(
        select(Delivery.id, Delivery.variant_id, *_facts())
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.id.in_(delivery_ids))
        .order_by(Delivery.id)
        .execution_options(populate_existing=True)
    )
    found = rows.all()
    tags = await _tags(session, [row[2].id for row in found])
    return [
        Recipient(
            delivery_id=row[0],
            subscriber_id=row[2].id,
            variant_id=row[1],
            chat_id=row[2].chat_id,
            context=_context(tuple(row[2:]), tags.get(row[2].id, ()), campaign),
        )
        for row in found
    ]


async def subscriber_context(
    session: AsyncSession, *, subscriber_id: int, campaign: Campaign
) -> TemplateContext | None:
    """What the campaign's templates would see of one subscriber (for previews)."""
    row = (await session.execute(select(*_facts()).where(Subscriber.id == subscriber_id))).first()
    if row is None:
        return None
    tags = await _tags(session, [subscriber_id])
    return _context(tuple(row), tags.get(subscriber_id, ()), campaign)


async def _tags(session: AsyncSession, subscriber_ids: list[int]) -> dict[int, tuple[str, ...]]:
    rows = await session.execute(
        select(SubscriberTag.subscriber_id, SubscriberTag.tag)
        .where(SubscriberTag.subscriber_id.in_(subscriber_ids))
        .order_by(SubscriberTag.tag)
    )
    tags: dict[int, tuple[str, ...]] = {}
    for subscriber_id, tag in rows.all():
        tags[subscriber_id] = (*tags.get(subscriber_id, ()), tag)
    return tags


def _context(facts: Sequence[Any], tags: tuple[str, ...], campaign: Campaign) -> TemplateContext:
    subscriber, orders, spent, last, rfm, stage, currency = facts
    last_purchase: datetime | None = last
    return TemplateContext(
        first_name=subscriber.first_name,
        last_name=subscriber.last_name,
        username=subscriber.username,
        language=subscriber.language_code,
        country=subscriber.country,
        region=subscriber.region,
        city=subscriber.city,
        timezone=subscriber.timezone,
        attr=dict(subscriber.attributes or {}),
        tags=tags,
        customer=CustomerFacts(
            orders=int(orders or 0),
            total_spent=_cents(spent),
            last_purchase=last_purchase.date() if last_purchase else None,
            currency=currency,
        ),
        rfm=rfm,
        stage=STAGES[stage or 0],
        campaign=campaign.name,
    )


def _cents(amount: float | Decimal | None) -> Decimal:
    """A money column's value as the exact Decimal it stores: its 14 digits survive a
    float's 15, so rounding to the cent undoes the float's error."""
    return Decimal(str(amount or 0)).quantize(CENT)


def compose(
    recipient: Recipient,
    variant: PreparedVariant,
    *,
    public_url: str,
    secret: str,
    unsubscribe_button: bool,
    paid: bool = False,
) -> OutgoingMessage:
    """The message for one recipient; RenderError if their template cannot be filled in."""

    def tracked(url: str) -> str:
        link_id = variant.links.get(url)
        if link_id is None:  # a URL the template built for this subscriber: not tracked
            return url
        ref = LinkRef(link_id, recipient.subscriber_id, recipient.delivery_id)
        return tracked_url(public_url, ref, secret=secret)

    context = replace(recipient.context, segment=variant.target_label)
    text = rewrite_urls(render(variant.template, context), tracked)
    buttons = tuple(
        Button(button.text, url=tracked(button.url)) if button.url else button
        for button in variant.buttons
    )
    if unsubscribe_button:
        buttons += (Button(UNSUBSCRIBE_TEXT, data=UNSUBSCRIBE_DATA),)
    return OutgoingMessage(
        chat_id=recipient.chat_id, text=text, photo=variant.photo, buttons=buttons, paid=paid
    )
