"""From a claimed delivery to the message itself: the subscriber's template variables
(those the campaign's templates may read, broadcasts.templates.variables_read, loaded for
a whole batch in one query), the variant rendered in their language
(core.languages.pick_language), and every URL in it (text, buttons, the link
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

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import jinja2
from sqlalchemy import ColumnElement, Select, func, null, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.button_spec import UNSUBSCRIBE_DATA
from broadcasts.links import LinkRef, register_links, rewrite_urls, tracked_url
from broadcasts.message_content import MessageContent
from broadcasts.messenger import Button, OutgoingMessage
from broadcasts.models import Campaign, Delivery
from broadcasts.telegram_html import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    EmptyMessageError,
    MessageTooLongError,
    check_length,
    invisible,
)
from broadcasts.templates import (
    VARIABLES,
    CustomerFacts,
    RenderError,
    TemplateContext,
    compile_template,
    render,
    variables_read,
)
from core.id_lists import among, id_list
from core.languages import pick_language
from core.models import Subscriber, SubscriberTag
from crm_sync.models import Customer, Order
from segments.levels import STAGES
from segments.models import LadderStage
from segments.rules.fields import PurchaseFact
from segments.rules.sql_facts import purchase_fact, rfm_segment

# The Unsubscribe button's words, in the language of the message it is under: one for each
# language the bot speaks (bot/locales; a test keeps the two sets equal), English for
# the rest.
UNSUBSCRIBE_LABELS = {"en": "Unsubscribe", "es": "Darse de baja", "ru": "Отписаться"}
UNSUBSCRIBE_TEXT = UNSUBSCRIBE_LABELS["en"]
CENT = Decimal("0.01")  # money columns are NUMERIC(14, 2)


@dataclass(frozen=True, slots=True)
class PreparedVariant:
    """A message ready to send many times: its templates compiled and its buttons in each
    language (worked out once, not per message), its links registered."""

    variant_id: int
    target_label: str
    content: MessageContent
    templates: Mapping[str, jinja2.Template]  # by language
    links: Mapping[str, int]  # URL -> Link id, for utm_content "target/variant"
    languages: list[str]  # content.languages, the default first
    keyboards: Mapping[str, tuple[tuple[Button, ...], ...]]  # by language, URLs untracked
    reads: frozenset[str]  # the template variables its templates may read, in any language


def prepared(
    content: MessageContent,
    *,
    variant_id: int = 0,
    target_label: str = "",
    links: Mapping[str, int] | None = None,
) -> PreparedVariant:
    """`content` ready to compose; without `links`, its URLs stay untracked (previews)."""
    languages = content.languages
    templates = {language: compile_template(content.template(language)) for language in languages}
    keyboards = {
        language: tuple(
            tuple(each.in_language(language) for each in row) for row in content.keyboard
        )
        for language in languages
    }
    reads = frozenset().union(*(variables_read(content.template(each)) for each in languages))
    return PreparedVariant(
        variant_id, target_label, content, templates, links or {}, languages, keyboards, reads
    )


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


def _facts(reads: frozenset[str]) -> tuple[Any, ...]:
    """The columns `_context` makes a subscriber's template variables of, correlated to
    `subscribers`, in its order: the subscriber's id, chat and language (the message's
    language is chosen by it), then those of the variables in `reads`, NULL for the rest,
    which a template that cannot read them need not cost the database and the sender.
    Read as plain columns, not as an ORM entity, which costs several times as much to
    load for every message sent."""

    def read(variable: str, column: Any) -> Any:
        return column if variable in reads else null().label(variable)

    stage = (
        select(LadderStage.stage)
        .where(LadderStage.subscriber_id == Subscriber.id)
        .scalar_subquery()
    )
    customer = (
        purchase_fact(PurchaseFact.COUNT),
        purchase_fact(PurchaseFact.TOTAL),
        purchase_fact(PurchaseFact.LAST),
        _currency(),
    )
    return (
        Subscriber.id,
        Subscriber.chat_id,
        Subscriber.language_code,
        read("first_name", Subscriber.first_name),
        read("last_name", Subscriber.last_name),
        read("username", Subscriber.username),
        read("country", Subscriber.country),
        read("region", Subscriber.region),
        read("city", Subscriber.city),
        read("timezone", Subscriber.timezone),
        read("attr", Subscriber.attributes),
        *(read("customer", fact) for fact in customer),
        read("rfm", rfm_segment()),
        read("stage", stage),
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


@functools.lru_cache(maxsize=64)
def _recipients(reads: frozenset[str]) -> Select[Any]:
    """The statement run for every claim of a campaign whose templates read `reads`,
    built once: building one, and working out its key in SQLAlchemy's cache of compiled
    SQL, costs about a millisecond of the sender's time."""
    return (
        select(Delivery.id, Delivery.variant_id, *_facts(reads))
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(among(Delivery.id, id_list("ids")))
        .order_by(Delivery.id)
    )


_TAGS = (
    select(SubscriberTag.subscriber_id, SubscriberTag.tag)
    .where(among(SubscriberTag.subscriber_id, id_list("ids")))
    .order_by(SubscriberTag.tag)
)


async def recipients(
    session: AsyncSession,
    *,
    delivery_ids: Sequence[int],
    campaign: Campaign,
    variants: Mapping[int, PreparedVariant],
) -> list[Recipient]:
    """The claimed deliveries of `campaign` (whose `variants` are these, by id) with
    their subscribers' template variables, in id order: those its templates may read (the
    rest keep their empty defaults), and as `segment` their target's label. Rows are read
    by position, through the session's connection: by name, and through the ORM, they
    cost as much again as the statement itself. The timezone is read, too, when the
    campaign has quiet hours: the sender checks them again as each message sets off."""
    reads = frozenset().union(*(variant.reads for variant in variants.values()))
    if campaign.quiet_start is not None:
        reads |= {"timezone"}
    connection = await session.connection()
    found = (await connection.execute(_recipients(reads), {"ids": list(delivery_ids)})).all()
    tags = {}
    if "tags" in reads:
        tags = await _tags(session, [subscriber_id for _, _, subscriber_id, *_ in found])
    ready = []
    for delivery_id, variant_id, *facts in found:
        subscriber_id, chat_id, *_ = facts
        segment = variants[variant_id].target_label
        context = _context(facts, tags.get(subscriber_id, ()), campaign, segment)
        ready.append(Recipient(delivery_id, subscriber_id, variant_id, chat_id, context))
    return ready


async def subscriber_context(
    session: AsyncSession, *, subscriber_id: int, campaign: Campaign
) -> TemplateContext | None:
    """What the campaign's templates would see of one subscriber (for previews)."""
    statement = select(*_facts(VARIABLES)).where(Subscriber.id == subscriber_id)
    facts = (await session.execute(statement)).first()
    if facts is None:
        return None
    tags = await _tags(session, [subscriber_id])
    return _context(facts, tags.get(subscriber_id, ()), campaign)


async def _tags(session: AsyncSession, subscriber_ids: list[int]) -> dict[int, tuple[str, ...]]:
    rows = await session.execute(_TAGS, {"ids": subscriber_ids})
    tags: dict[int, tuple[str, ...]] = {}
    for subscriber_id, tag in rows.all():
        tags[subscriber_id] = (*tags.get(subscriber_id, ()), tag)
    return tags


_NO_PURCHASES = CustomerFacts()


def _context(
    facts: Sequence[Any], tags: tuple[str, ...], campaign: Campaign, segment: str = ""
) -> TemplateContext:
    """The columns of `_facts()` as a template sees them."""
    (
        _id, _chat_id, language, first_name, last_name, username, country, region, city,
        timezone, attributes, orders, spent, last_purchase, currency, rfm, stage,
    ) = facts  # fmt: skip
    customer = _NO_PURCHASES
    if orders or spent or last_purchase or currency is not None:
        customer = CustomerFacts(
            orders=int(orders or 0),
            total_spent=_cents(spent),
            last_purchase=last_purchase.date() if last_purchase else None,
            currency=currency,
        )
    return TemplateContext(
        first_name=first_name,
        last_name=last_name,
        username=username,
        language=language,
        country=country,
        region=region,
        city=city,
        timezone=timezone,
        attr=dict(attributes or {}),
        tags=tags,
        customer=customer,
        rfm=rfm,
        stage=STAGES[stage or 0],
        segment=segment,
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
    language = pick_language(recipient.context.language, variant.languages, content.language)
    context = recipient.context
    if context.segment != variant.target_label:
        context = replace(context, segment=variant.target_label)
    text = rewrite_urls(render(variant.templates[language], context), tracked)
    check_fits(text, caption=bool(content.media))
    keyboard = tuple(
        tuple(_button(button, tracked) for button in row) for row in variant.keyboards[language]
    )
    if unsubscribe_button:
        label = UNSUBSCRIBE_LABELS[pick_language(language, list(UNSUBSCRIBE_LABELS), "en")]
        keyboard += ((Button(label, data=UNSUBSCRIBE_DATA),),)
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


def check_fits(text: str, *, caption: bool) -> None:
    """RenderError if this subscriber's own values left a text message empty (`<b>{{
    first_name }}</b>` without one) or made it longer than Telegram takes (saving checked
    a sample subscriber's): skipped, not sent to be refused. A text of at most half the
    limit fits whatever it holds (a character is at most two UTF-16 units), and one whose
    first character after its opening tags is one Telegram shows is not empty, so most
    messages are not measured."""
    shown = text.lstrip()
    if not caption and not shown:
        raise RenderError("the message is empty for this subscriber")
    maybe_blank = not caption and not _starts_visibly(shown)
    if maybe_blank or len(text) > (CAPTION_LIMIT if caption else TEXT_LIMIT) // 2:
        try:
            check_length(text, caption=caption)
        except (MessageTooLongError, EmptyMessageError) as error:
            raise RenderError(f"{error} for this subscriber") from None


def _starts_visibly(text: str) -> bool:
    """Whether the first character of `text` past its opening tags and invisible
    characters is one Telegram shows (an entity such as `&#32;` may not be: unknown)."""
    at = 0
    while at < len(text) and (text[at] == "<" or invisible(text[at])):
        if text[at] == "<":
            at = text.find(">", at) + 1
            if at == 0:
                return False
        else:
            at += 1
    return at < len(text) and text[at] != "&"


def _button(button: Button, tracked: Callable[[str], str]) -> Button:
    if button.url is None or not button.url.startswith("http"):
        return button
    return Button(button.text, tracked(button.url), button.data, button.copy_text, button.web_app)
