"""`segbot campaign` with rich messages: a file's media paths from its folder, `show` and
`preview` naming kinds and languages, `clone`, and `test-send` in every language, its
uploads kept for the run after it."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from broadcasts.models import UploadedFile
from cli.campaign import app
from telegram_emulator import Emulator
from tests.broadcasts.audience import add_subscribers
from tests.broadcasts.media_files import JPEG_HEAD, MP4_HEAD, media_file
from tests.cli.conftest import invoke
from tests.cli.test_campaign_sending import TOKEN

RICH = """
name: rich
audience:
  - query: "lang = pt"
    label: watchers
    video: media/promo.mp4
    caption: {en: "Watch it", pt: "Veja"}
    effect: fire
    buttons: [[{text: Shop, url: "https://shop.example/"}, {text: Code, copy_text: SUN10}]]
  - query: "lang = it"
    label: lookers
    album: [{photo: media/beach.jpg}, {photo: "https://cdn.example/2.jpg"}]
    caption: Summer
default:
  text: {en: "Hello {{ first_name }}", es: "Hola {{ first_name }}", de: "Hallo {{ first_name }}"}
"""


def campaign_file(folder: Path) -> str:
    """The campaign in `folder`, its media in `folder/media`."""
    (folder / "media").mkdir(exist_ok=True)
    media_file(folder / "media", "promo.mp4", MP4_HEAD)
    media_file(folder / "media", "beach.jpg", JPEG_HEAD)
    path = folder / "rich.yaml"
    path.write_text(RICH, encoding="utf-8")
    return str(path)


async def created(runner: CliRunner, folder: Path) -> None:
    result = await invoke(runner, app, "create", campaign_file(folder))
    assert result.exit_code == 0, result.output


@pytest.fixture
async def emulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    async with Emulator() as emulator:
        emulator.add_user(1, first_name="Ann")
        monkeypatch.setenv("SEGBOT_TELEGRAM_API_BASE", emulator.base_url)
        monkeypatch.setenv("SEGBOT_BOT_TOKEN", TOKEN)
        yield emulator


async def test_media_paths_are_read_from_the_campaign_files_folder(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir("/")
    await created(runner, tmp_path)
    shown = await invoke(runner, app, "show", "rich")
    assert "[video; en, pt] Watch it" in shown.output
    assert "[album of 2] Summer" in shown.output
    assert "[text; en, de, es] Hello {{ first_name }}" in shown.output


async def test_clone_copies_under_a_new_name_as_a_draft(runner: CliRunner, tmp_path: Path) -> None:
    await created(runner, tmp_path)
    cloned = await invoke(runner, app, "clone", "rich", "rich.again")
    assert cloned.exit_code == 0
    assert "cloned rich as campaign" in cloned.output
    assert "rich.again: draft (segbot campaign send-now rich.again sends it)" in cloned.output
    taken = await invoke(runner, app, "clone", "rich", "rich.again")
    assert taken.exit_code == 2
    assert "a campaign named 'rich.again' exists already" in taken.output
    missing = await invoke(runner, app, "clone", "nope", "other")
    assert missing.exit_code == 1
    assert "no campaign 'nope'" in missing.output


async def test_preview_shows_each_language_and_the_albums_missing_buttons(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    await add_subscribers(session, 1, first_id=1, language="es")
    await created(runner, tmp_path)
    result = await invoke(runner, app, "preview", "rich")
    assert result.exit_code == 0, result.output
    shown = result.output
    for language, hello in (("en", "Hello"), ("es", "Hola"), ("de", "Hallo")):
        assert f"in {language}:" in shown
        assert f"{hello} User1" in shown
    assert "[video] promo.mp4" in shown
    assert "effect: fire" in shown
    assert "an album carries no buttons" in shown
    alone = await invoke(runner, app, "preview", "rich", "--subscriber", "tg:1")
    assert "Hola User1" in alone.output
    assert "Hello User1" not in alone.output


async def test_test_send_sends_every_language_and_keeps_its_uploads(
    runner: CliRunner, session: AsyncSession, emulator: Emulator, tmp_path: Path
) -> None:
    await created(runner, tmp_path)
    result = await invoke(runner, app, "test-send", "rich", "--to", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "watchers/a (en): sent",
        "watchers/a (pt): sent",
        "lookers/a: sent",
        "default/a (en): sent",
        "default/a (de): sent",
        "default/a (es): sent",
    ]
    sends = emulator.sends_to(1)
    assert [send.method for send in sends] == [
        "sendVideo", "sendVideo", "sendMediaGroup", "sendMessage", "sendMessage", "sendMessage",
    ]  # fmt: skip
    video_sources = [s.messages[0].media.source.value for s in sends[:2] if s.messages[0].media]
    assert video_sources == ["upload", "file_id"]
    greetings = [s.messages[0].plain_text.split()[0] for s in sends[3:]]
    assert greetings == ["Hello", "Hallo", "Hola"]  # the sample subscriber in each language
    kept = (await session.scalars(select(UploadedFile.kind).order_by(UploadedFile.kind))).all()
    assert list(kept) == ["photo", "video"]  # a run after this sends them by id
