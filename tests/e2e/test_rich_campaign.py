"""A rich campaign through `segbot campaign create` and the real bot, against the emulator:
a video, an album and a text in three languages reach each subscriber with the right
method, caption and language; each local file is uploaded once, then sent by its file id;
effects and the Unsubscribe row arrive; a bad album or an oversize caption is refused when
the file is saved."""

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from broadcasts.campaigns import get_campaign
from broadcasts.models import Delivery, DeliveryStatus, RunStatus, UploadedFile
from broadcasts.planner import plan_run
from broadcasts.runs import progress
from cli.campaign import app
from core.models import Subscriber
from telegram_emulator import Emulator
from telegram_emulator.sent import SentMessage
from tests.broadcasts.audience import NOW, add_subscribers
from tests.broadcasts.media_files import JPEG_HEAD, MP4_HEAD, media_file
from tests.cli.conftest import invoke
from tests.polling import until

pytestmark = [pytest.mark.e2e]

FIRE = "5104841245755180586"
CAMPAIGN = """
name: summer
language: en
audience:
  - query: "lang = pt"
    label: watchers
    video: media/promo.mp4
    caption: "Watch, <b>{{ first_name }}</b>"
    effect: fire
    buttons:
      - [{text: Shop, url: "https://shop.example/"}, {text: Code, copy_text: SUMMER10}]
  - query: "lang = it"
    label: lookers
    album:
      - photo: media/beach.jpg
      - video: media/promo.mp4
    caption: "Summer, {{ first_name }}"
default:
  text:
    en: "Hello {{ first_name }}, <tg-spoiler>-20%</tg-spoiler> today"
    es: "Hola {{ first_name }}, <tg-spoiler>-20%</tg-spoiler> hoy"
    de: "Hallo {{ first_name }}, <tg-spoiler>-20%</tg-spoiler> heute"
  effect: party
"""
# chat id -> Telegram language
PEOPLE = {1: "pt", 2: "pt", 3: "pt", 4: "it", 5: "it", 6: "en", 7: "es", 8: "de", 9: "fr"}


def write(folder: Path, text: str) -> str:
    (folder / "media").mkdir(exist_ok=True)
    media_file(folder / "media", "promo.mp4", MP4_HEAD, size=200_000)
    media_file(folder / "media", "beach.jpg", JPEG_HEAD, size=50_000)
    path = folder / "summer.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


async def audience(session: AsyncSession, emulator: Emulator) -> None:
    for chat, language in PEOPLE.items():
        await add_subscribers(session, 1, first_id=chat, language=language)
        emulator.add_user(chat, first_name=f"User{chat}", language_code=language)


async def sent_out(sessionmaker: async_sessionmaker[AsyncSession], run_id: int) -> None:
    async def done() -> bool:
        async with sessionmaker() as session:
            state = await progress(session, run_id=run_id)
        return state.pending == 0 and state.status is not RunStatus.SENDING

    await until(done, within=60, what=f"run {run_id} to be sent out")


def keyboard(message: SentMessage) -> list[list[str]]:
    """The labels of the message's buttons, row by row."""
    rows = (message.reply_markup or {}).get("inline_keyboard")
    assert isinstance(rows, list)
    return [
        [str(button["text"]) for button in row if isinstance(button, dict)]
        for row in rows
        if isinstance(row, list)
    ]


async def test_video_album_and_three_languages_reach_each_subscriber(
    runner: CliRunner,
    running_bot: None,
    emulator: Emulator,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    await audience(session, emulator)
    saved = await invoke(runner, app, "create", write(tmp_path, CAMPAIGN))
    assert saved.exit_code == 0, saved.output
    campaign = await get_campaign(session, ref="summer")
    plan = await plan_run(session, campaign=campaign, now=NOW)
    await sent_out(sessionmaker, plan.run.id)

    for chat in (1, 2, 3):
        [send] = emulator.sends_to(chat)
        [video] = send.messages
        assert video.method == "sendVideo"
        assert video.plain_text == f"Watch, User{chat}"
        assert video.message_effect_id == FIRE
        assert keyboard(video) == [["Shop", "Code"], ["Unsubscribe"]]
    for chat in (4, 5):
        [album] = emulator.sends_to(chat)
        assert album.is_album
        assert album.method == "sendMediaGroup"
        assert [m.plain_text for m in album.messages] == [f"Summer, User{chat}", ""]
        assert [m.media.kind.value for m in album.messages if m.media] == ["photo", "video"]
    texts = {chat: emulator.messages_to(chat)[0] for chat in (6, 7, 8, 9)}
    assert {chat: message.plain_text for chat, message in texts.items()} == {
        6: "Hello User6, -20% today",
        7: "Hola User7, -20% hoy",
        8: "Hallo User8, -20% heute",
        9: "Hello User9, -20% today",  # French: the campaign's language
    }
    for chat, message in texts.items():
        assert message.method == "sendMessage"
        # The button's words follow the message's language; German has none of segbot's.
        assert keyboard(message) == [["Darse de baja" if chat == 7 else "Unsubscribe"]]
        assert message.message_effect_id == "5046509860389126442"
        assert [entity["type"] for entity in message.entities] == ["spoiler"]

    # Each file went up once; every other message sent the file id its upload brought.
    media = [m.media for m in emulator.sent_messages() if m.media is not None]
    sources = Counter((item.kind.value, item.source.value) for item in media)
    assert sources == {
        ("video", "upload"): 1,
        ("video", "file_id"): 4,  # two more watchers, two albums
        ("photo", "upload"): 1,
        ("photo", "file_id"): 1,
    }
    kept = (await session.scalars(select(UploadedFile.kind).order_by(UploadedFile.kind))).all()
    assert list(kept) == ["photo", "video"]

    # One delivery per subscriber, an album's being its first message.
    rows = await session.execute(
        select(Subscriber.chat_id, Delivery.status, Delivery.message_id)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.run_id == plan.run.id)
    )
    deliveries = {chat: (status, message_id) for chat, status, message_id in rows.all()}
    assert {status for status, _ in deliveries.values()} == {DeliveryStatus.SENT}
    for chat in (4, 5):
        assert deliveries[chat][1] == emulator.sends_to(chat)[0].message_ids[0]


BAD_ALBUM = CAMPAIGN.replace("      - video: media/promo.mp4\n", "")
LONG_CAPTION = CAMPAIGN.replace('"Summer, {{ first_name }}"', '"' + "Sun " * 300 + '"')


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (BAD_ALBUM, "line 14, audience.1.album: an album has 2-10 items, not 1"),
        (
            LONG_CAPTION,
            "line 17, audience lookers, variant a: a caption is 1200 characters; Telegram "
            "allows 1024",
        ),
    ],
)
async def test_a_bad_album_or_an_oversize_caption_is_refused_when_saved(
    runner: CliRunner, tmp_path: Path, text: str, reason: str
) -> None:
    refused = await invoke(runner, app, "create", write(tmp_path, text))
    assert refused.exit_code == 2
    assert reason in refused.output
    listed = await invoke(runner, app, "list")
    assert "no campaigns yet" in listed.output
