"""From a claimed delivery to the message itself: the subscriber's template variables
(loaded for a whole batch in one query), the variant rendered in their language
(broadcasts.message_content.pick_language), and every URL in it (text, buttons, the link
preview's) rewritten to a tracked link carrying the subscriber and the delivery. Markup
Telegram keeps (spoilers, custom emoji) passes through as it is; a Mini App's URL is not
tracked (it must open as it is). An album carries no buttons, so it has no Unsubscribe
button; a message effect goes to private chats only.

Money reaches templates exact: the total spent is read back as the Decimal the database
holds (to the cent), never as the float a SQLite sum gives (866.9100000000001). Its
currency, which the `money` filter shows, is that of the subscriber's latest purchase,
else that of the shop's latest order, else unknown. An order the CRM sent without a
currency was given crm.default_currency when it was imported.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import jinja2
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.languages import pick_language
from broadcasts.links import LinkRef, register_links, rewrite_urls, tracked_url
from broadcasts.message_content import LocalizedButton, MessageContent
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
    """A message ready to send many times: its templates compiled (one per language), its
    links registered."""

    variant_id: int
    target_label: str
    content: MessageContent
    templates: Mapping[str, jinja2.Template]  # by language
    links: Mapping[str, int]  # URL -> Link id, for utm_content "target/variant"


def prepared(
    content: MessageContent,
    *,
    variant_id: int = 0,
    target_label: str = "",
    links: Mapping[str, int] | None = None,
) -> PreparedVariant:
    """`content` ready to compose; without `links`, its URLs stay untracked (previews)."""
    templates = {
        language: compile_template(content.template(language)) for language in content.languages
    }
    return PreparedVariant(variant_id, target_label, content, templates, links or {})


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
    ready = {}
    for target in campaign.targets:
        for variant in target.variants:
            content = MessageContent.of_variant(variant, language=campaign.language)
            links = await register_links(
                session,
                content.urls(),
                campaign=campaign.name,
                content=f"{target.label}/{variant.name}",
                now=now,
            )
            ready[variant.id] = prepared(
                content, variant_id=variant.id, target_label=target.label, links=links
            )
    return ready


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

    content = variant.content
    language = pick_language(recipient.context.language, content.languages, content.language)
    context = replace(recipient.context, segment=variant.target_label)
    text = rewrite_urls(render(variant.templates[language], context), tracked)
    keyboard = tuple(
        tuple(_button(each, language, tracked) for each in row) for row in content.keyboard
    )
    if unsubscribe_button:
        keyboard += ((Button(UNSUBSCRIBE_TEXT, data=UNSUBSCRIBE_DATA),),)
    preview = content.link_preview
    if preview is not None and preview.url is not None:
        preview = replace(preview, url=tracked(preview.url))
    group = recipient.chat_id < 0  # a group's or channel's: no message effects there
    return OutgoingMessage(
        chat_id=recipient.chat_id,
        text=text,
        media=content.media,
        keyboard=() if content.kind == "album" else keyboard,
        link_preview=preview,
        protect_content=content.protect_content,
        effect_id=None if group else content.effect_id,
        paid=paid,
    )


def _button(each: LocalizedButton, language: str, tracked: Callable[[str], str]) -> Button:
    button = each.in_language(language)
    if button.url is None or not button.url.startswith("http"):
        return button
    return replace(button, url=tracked(button.url))
