"""Rich messages through the real sender (a scripted messenger): each subscriber's
language, media and buttons in rows, links tracked wherever a person may follow them;
and the funnel counts every kind of message the same way, an album as one."""

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.compose import Recipient, compose, prepared
from broadcasts.links import follow, read_token
from broadcasts.message_content import MessageContent
from broadcasts.messenger import Button, MediaKind, OutgoingMessage
from broadcasts.models import Campaign, Delivery, DeliveryStatus
from broadcasts.pacing import LocalSlots, RateBudget
from broadcasts.planner import plan_run
from broadcasts.reports.campaign import campaign_report
from broadcasts.sender import BatchResult, Sender, SenderSettings
from broadcasts.templates import SAMPLE
from core.clock import utcnow
from core.models import Event, EventType, Subscriber
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from
from tests.broadcasts.fake_messenger import FakeMessenger

PUBLIC_URL = "http://bot.test"
SETTINGS = SenderSettings(public_url=PUBLIC_URL, secret="test-secret")
BROWSER = {"User-Agent": "Mozilla/5.0 (iPhone) Mobile Safari"}
RICH = """
name: rich
audience:
  - query: "lang = pt"
    label: watchers
    video: https://cdn.example/promo.mp4
    caption: "Watch, {{ first_name }}: https://shop.example/video"
    effect: fire
    protect_content: true
    buttons:
      - [{text: Shop, url: "https://shop.example/"}, {text: Code, copy_text: SPRING10}]
      - {text: App, web_app: "https://app.example/"}
  - query: "lang = it"
    label: lookers
    album:
      - photo: https://cdn.example/1.jpg
      - video: https://cdn.example/2.mp4
    caption: "Summer: https://shop.example/summer"
default:
  text:
    en: "Hello {{ first_name }} <tg-spoiler>-20%</tg-spoiler> https://shop.example/en"
    es: "Hola {{ first_name }} https://shop.example/es"
    de: "Hallo {{ first_name }}"
  link_preview: {url: "https://shop.example/preview", position: above}
  buttons: [{text: {en: Shop, es: Tienda}, url: "https://shop.example/"}]
"""
# chat ids by the language of their subscriber
LANGUAGES = {1: "pt", 2: "it", 3: "en", 4: "es", 5: "de", 6: "fr", 7: "es-mx"}


async def sent_rich(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> tuple[Campaign, int, FakeMessenger]:
    for chat, language in LANGUAGES.items():
        await add_subscribers(session, 1, first_id=chat, language=language)
    campaign = await campaign_from(session, RICH)
    plan = await plan_run(session, campaign=campaign, now=NOW)
    messenger = FakeMessenger()
    budget = RateBudget(1000, chat_spacing=0, slots=LocalSlots(start_after=0))
    sender = Sender(sessionmaker, messenger, budget, SETTINGS)
    assert await sender.deliver(plan.run.id) is BatchResult.FINISHED
    return campaign, plan.run.id, messenger


def only(messenger: FakeMessenger, chat: int) -> OutgoingMessage:
    [message] = messenger.to(chat)
    return message


def tracked(url: str | None) -> bool:
    return url is not None and url.startswith(f"{PUBLIC_URL}/r/")


async def test_each_subscriber_gets_their_message_in_their_language(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, _, messenger = await sent_rich(session, sessionmaker)
    texts = {chat: only(messenger, chat).text.split(" http")[0] for chat in (3, 4, 5, 6, 7)}
    assert texts == {
        3: "Hello User3 <tg-spoiler>-20%</tg-spoiler>",
        4: "Hola User4",
        5: "Hallo User5",
        6: "Hello User6 <tg-spoiler>-20%</tg-spoiler>",  # French: the default, English
        7: "Hola User7",  # es-mx: Spanish
    }
    assert [row[0].text for row in only(messenger, 4).keyboard] == ["Tienda", "Darse de baja"]
    assert [row[0].text for row in only(messenger, 5).keyboard] == [
        "Shop",
        "Unsubscribe",
    ]  # German: no words of our own
    preview = only(messenger, 3).link_preview
    assert preview is not None
    assert preview.above
    assert tracked(preview.url)


async def test_media_buttons_in_rows_and_what_is_tracked(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, _, messenger = await sent_rich(session, sessionmaker)
    watch = only(messenger, 1)
    assert [(item.kind, item.ref) for item in watch.media] == [
        (MediaKind.VIDEO, "https://cdn.example/promo.mp4")
    ]
    assert watch.text.startswith(f"Watch, User1: {PUBLIC_URL}/r/")
    (shop, code), (app,), (unsubscribe,) = watch.keyboard
    assert tracked(shop.url)
    assert code == Button("Code", copy_text="SPRING10")
    assert app == Button("App", web_app="https://app.example/")  # a Mini App opens as it is
    assert unsubscribe == Button("Unsubscribe", data="unsubscribe")
    assert (watch.effect_id, watch.protect_content) == ("5104841245755180586", True)
    album = only(messenger, 2)
    assert album.is_album
    assert [item.kind for item in album.media] == [MediaKind.PHOTO, MediaKind.VIDEO]
    assert album.keyboard == ()  # an album carries no buttons
    assert album.text.startswith(f"Summer: {PUBLIC_URL}/r/")


async def test_the_funnel_counts_every_kind_of_message_and_an_album_as_one(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    campaign, run_id, messenger = await sent_rich(session, sessionmaker)
    album = only(messenger, 2)
    later = utcnow() + timedelta(minutes=5)  # the sender's clock is the real one
    token = album.text.split("/r/")[1].split()[0]
    ref = read_token(token, secret=SETTINGS.secret)
    assert ref is not None
    await follow(session, ref=ref, method="GET", headers=BROWSER, now=later)
    video_reader = await session.scalar(select(Subscriber.id).where(Subscriber.chat_id == 1))
    assert video_reader is not None
    session.add(
        Event(
            subscriber_id=video_reader,
            type=EventType.REACTION,
            occurred_at=later,
            payload={"message_id": 1, "emoji": ["🔥"]},
        )
    )
    await session.commit()
    rows = await session.execute(
        select(Subscriber.chat_id, Delivery.status, Delivery.message_id)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.run_id == run_id)
    )
    deliveries = {chat: (status, message_id) for chat, status, message_id in rows.all()}
    assert {status for status, _ in deliveries.values()} == {DeliveryStatus.SENT}
    assert len(deliveries) == len(LANGUAGES)  # one delivery each, the album's too
    report = await campaign_report(session, campaign_id=campaign.id, now=later)
    totals = report.totals
    assert (totals.sent, totals.read, totals.clicked, totals.clicks) == (7, 2, 1, 1)
    by_target = {row.target: row.counts for row in report.rows}
    assert (by_target["lookers"].read, by_target["lookers"].clicked) == (1, 1)  # the album
    assert by_target["watchers"].read == 1  # the video, read by its reaction


@pytest.mark.parametrize(("chat_id", "effect"), [(42, "5104841245755180586"), (-100123, None)])
def test_an_effect_goes_to_private_chats_only(chat_id: int, effect: str | None) -> None:
    content = MessageContent(kind="text", body="Hi", language="en", effect_id="5104841245755180586")
    message = compose(
        Recipient(1, 1, 1, chat_id, SAMPLE),
        prepared(content),
        public_url=PUBLIC_URL,
        secret="s",
        unsubscribe_button=False,
    )
    assert message.effect_id == effect


def test_spoilers_and_custom_emoji_survive_templating_and_tracking() -> None:
    body = (
        '<tg-spoiler>{{ first_name }}</tg-spoiler> <span class="tg-spoiler">x</span> '
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> https://shop.example/'
    )
    content = MessageContent(kind="text", body=body, language="en")
    ready = replace(prepared(content), links={"https://shop.example/": 7})
    context = replace(SAMPLE, first_name="Ann")
    message = compose(
        Recipient(1, 1, 1, 42, context), ready, public_url=PUBLIC_URL, secret="s",
        unsubscribe_button=False,
    )  # fmt: skip
    assert message.text.startswith(
        '<tg-spoiler>Ann</tg-spoiler> <span class="tg-spoiler">x</span> '
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> http://bot.test/r/'
    )
