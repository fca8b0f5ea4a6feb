"""At DEBUG, the whole log of `segbot run` (its own process, as an operator starts it, in
polling and in webhook mode) holds no secret and no personal data: a subscriber subscribes,
shares a phone and an email, writes a message and asks to be forgotten, and then the log is
searched for the token, the secret key and what derives from it, the database password,
their names, the phone, the email and the message text."""

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.webhook import webhook_secret
from telegram_emulator import Emulator
from tests.polling import until
from tests.ports import free_port

pytestmark = pytest.mark.e2e

SEGBOT = str(Path(sys.executable).parent / "segbot")
BOT_TOKEN = "987654:Log-Privacy_TOKEN-x7Q"
SECRET_KEY = "log-privacy-secret-key-5Jq"
DB_PASSWORD = "Pg-Password-9vK"  # the test server trusts 127.0.0.1, so any password works
USER = 60_601
FIRST_NAME, LAST_NAME, USERNAME = "Quentyn", "Marbrand", "quentyn_logtest"
PHONE_SHARED, PHONE_STORED = "+34 611 222 333", "+34611222333"
EMAIL = "Quentyn.Logtest@Example.org"
MESSAGE = "meet me behind the old mill at nine"
PROCESS_TIMEOUT = 60.0  # seconds to start or stop: aiogram alone takes a few to import
CONFIG = "tracking:\n  store_message_text: true\n"  # the text goes to the database too


def with_password(database_url: str) -> str:
    """The test database's URL with a password, on PostgreSQL (SQLite takes none)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return database_url
    return url.set(password=DB_PASSWORD).render_as_string(hide_password=False)


class SegbotProcess:
    """`segbot run` in a process of its own, logging to a file."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self._process = process
        self._log = log

    def log(self) -> str:
        return self._log.read_text(errors="replace")

    async def stop(self) -> str:
        """SIGTERM, as systemd stops it; the whole log, shutdown included."""
        self._process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self._process.wait(), PROCESS_TIMEOUT)
        assert self._process.returncode == 0, self.log()
        return self.log()


@pytest.fixture
async def segbot(
    request: pytest.FixtureRequest,
    emulator: Emulator,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> AsyncIterator[SegbotProcess]:
    """`segbot run` (`--webhook` in webhook mode) at DEBUG, once it says it is running."""
    port = free_port()
    config = tmp_path / "segbot.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    environment = os.environ | {
        "SEGBOT_BOT_TOKEN": BOT_TOKEN,
        "SEGBOT_SECRET_KEY": SECRET_KEY,
        "SEGBOT_DATABASE_URL": with_password(database_url),
        "SEGBOT_TELEGRAM_API_BASE": emulator.base_url,
        "SEGBOT_WEB_PORT": str(port),
        "SEGBOT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SEGBOT_CONFIG": str(config),
        "SEGBOT_LOG_LEVEL": "DEBUG",
    }
    mode = ["--webhook"] if request.param == "webhook" else []
    log = tmp_path / "segbot.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            SEGBOT, "run", *mode, env=environment, stdout=output, stderr=output
        )
    running = SegbotProcess(process, log)
    try:
        await until(
            lambda: "segbot running" in running.log(),
            within=PROCESS_TIMEOUT,
            what="segbot running",
        )
        yield running
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def journey(emulator: Emulator) -> None:
    """Subscribe, share a phone and an email, write, and have it all erased."""
    emulator.add_user(USER, first_name=FIRST_NAME, last_name=LAST_NAME, username=USERNAME)
    await emulator.send_text(USER, "/start")
    await emulator.wait_for_messages(USER, count=2, timeout=PROCESS_TIMEOUT)
    await emulator.share_contact(USER, PHONE_SHARED)
    await emulator.wait_for_messages(USER, count=3)
    await emulator.send_text(USER, f"/email {EMAIL}")
    await emulator.wait_for_messages(USER, count=4)
    await emulator.send_text(USER, MESSAGE)  # no answer: it is only logged as an event
    await emulator.send_text(USER, "/forget")
    confirm = (await emulator.wait_for_messages(USER, count=5))[-1]
    [yes] = [data for text, data in confirm.callback_buttons() if text.startswith("Yes")]
    await emulator.press_button(USER, confirm.message_id, yes)

    def erased() -> bool:  # the confirmation is edited into the farewell
        return any("erased" in (message.text or "") for message in emulator.messages_to(USER))

    await until(erased, what="the farewell")


@pytest.mark.parametrize("segbot", ["polling", "webhook"], indirect=True)
async def test_a_debug_log_holds_no_secret_and_no_personal_data(
    emulator: Emulator, segbot: SegbotProcess
) -> None:
    await journey(emulator)
    log = await segbot.stop()
    assert " DEBUG " in log  # the level is in effect: the search below means something
    never = {
        "the bot token": BOT_TOKEN,
        "the token's secret part": BOT_TOKEN.split(":")[1],
        "the secret key": SECRET_KEY,
        "the webhook secret": webhook_secret(SECRET_KEY),
        "the database password": DB_PASSWORD,
        "the first name": FIRST_NAME,
        "the last name": LAST_NAME,
        "the username": USERNAME,
        "the phone as shared": PHONE_SHARED,
        "the phone as stored": PHONE_STORED.removeprefix("+"),
        "the email": EMAIL.lower(),
        "the message text": MESSAGE,
    }
    found = [what for what, value in never.items() if value.lower() in log.lower()]
    assert found == [], f"in the log: {', '.join(found)}"
