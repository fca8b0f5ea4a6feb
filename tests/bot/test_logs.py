"""Log output: JSON lines on request, in any case spelling; a bad value is a config error.
No secret reaches the log whichever library logs it, and at DEBUG the database drivers
print no query parameters unless SEGBOT_LOG_SQL asks for them."""

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web
from sqlalchemy import text

import migrations
from bot.logs import DRIVER_LOGGERS, SQL_LOGGER, configure_logging
from bot.webhook import webhook_secret
from core.db import create_engine
from core.errors import ConfigError
from core.settings import load_settings
from tests.polling import until

BOT_ID = 123456
TOKEN = f"{BOT_ID}:AAE-token_SECRET-part"
SECRET_KEY = "logs-test-secret-key"
DB_PASSWORD = "Db-Pa55word-x9"
REDIS_PASSWORD = "Redis-Pa55word-7"
LLM_KEY = "sk-llm-key-0123456789"
PHONE = "+34611222333"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    drivers = {name: logging.getLogger(name).level for name in (*DRIVER_LOGGERS, SQL_LOGGER)}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, driver_level in drivers.items():
        logging.getLogger(name).setLevel(driver_level)


def test_json_lines_carry_level_logger_message_and_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEGBOT_LOG_FORMAT", "JSON")
    monkeypatch.setenv("SEGBOT_LOG_LEVEL", "warning")
    configure_logging(load_settings())
    log = logging.getLogger("segbot.test")
    log.info("not shown at WARNING")
    try:
        raise ValueError("bad row")
    except ValueError:
        log.exception("import failed for %d rows", 3)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "segbot.test"
    assert entry["message"] == "import failed for 3 rows"
    assert "ValueError: bad row" in entry["exception"]
    assert entry["time"].endswith("+00:00")


def test_an_unknown_format_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGBOT_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="SEGBOT_LOG_FORMAT"):
        load_settings()


@asynccontextmanager
async def api_that_redirects_forever() -> AsyncIterator[str]:
    """A Bot API (its base URL) that answers getMe, then sends every other call round a
    redirect loop: aiohttp gives up with an error that quotes the URL, token and all."""

    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/getMe"):
            me = {"id": BOT_ID, "is_bot": True, "first_name": "Test", "username": "test_bot"}
            return web.json_response({"ok": True, "result": me})
        raise web.HTTPTemporaryRedirect(str(request.url))

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, listening)
    await site.start()
    try:
        yield site.name
    finally:
        await runner.cleanup()


async def test_a_bot_api_network_error_is_logged_without_the_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(load_settings(bot_token=TOKEN))
    output: list[str] = []

    def polling_failed() -> bool:
        output.append(capsys.readouterr().err)
        return "Failed to fetch updates" in "".join(output)

    async with api_that_redirects_forever() as base:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base)))
        dispatcher = Dispatcher()
        polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
        try:
            await until(polling_failed, what="aiogram to log that getUpdates failed")
        finally:
            await dispatcher.stop_polling()
            await polling
    log = "".join(output)
    assert f"/bot{BOT_ID}:***/getUpdates" in log  # which call failed, still said
    assert TOKEN.partition(":")[2] not in log


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_configured_secret_reaches_the_log_whoever_logs_it(
    log_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(
        load_settings(
            bot_token=TOKEN,
            secret_key=SECRET_KEY,
            database_url=f"postgresql://segbot:{DB_PASSWORD}@db.example/segbot",
            redis_url=f"redis://:{REDIS_PASSWORD}@cache.example:6379/0",
            llm_api_key=LLM_KEY,
            log_format=log_format,
        )
    )
    secrets = [
        TOKEN.partition(":")[2],
        SECRET_KEY,
        webhook_secret(SECRET_KEY),
        DB_PASSWORD,
        REDIS_PASSWORD,
        LLM_KEY,
    ]
    library = logging.getLogger("some.library")
    library.warning("calling %s with %s", f"https://api.example/bot{TOKEN}/getMe", secrets)
    try:
        raise ConnectionError(f"refused: {' '.join(secrets)}")
    except ConnectionError:
        library.exception("could not reach %s", "smtp://mailer:Smtp-Pa55word@mail.example")
    log = capsys.readouterr().err
    assert [secret for secret in secrets if secret in log] == []
    assert "Smtp-Pa55word" not in log  # the password of any URL
    assert "smtp://mailer:***@mail.example" in log
    assert "ConnectionError: refused: ***" in log


def test_a_message_whose_arguments_do_not_fit_is_printed_redacted_not_raised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(load_settings(secret_key=SECRET_KEY))
    logging.getLogger("some.library").warning("one %s here", "argument", SECRET_KEY)
    log = capsys.readouterr().err
    assert "one %s here" in log
    assert SECRET_KEY not in log
    assert "Logging error" not in log


async def select_phone(database_url: str, *, show_parameters: bool = False) -> None:
    engine = create_engine(database_url, show_parameters=show_parameters)
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT :phone"), {"phone": PHONE}) == PHONE
    finally:
        await engine.dispose()


async def test_at_debug_the_database_drivers_print_no_query_parameters(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(load_settings(log_level="DEBUG"))
    await select_phone(database_url)
    assert PHONE not in capsys.readouterr().err


async def test_sql_logging_when_asked_for_prints_statements_with_their_parameters(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(log_sql=True)
    configure_logging(settings)
    await select_phone(database_url, show_parameters=settings.log_sql)
    log = capsys.readouterr().err
    assert f"INFO {SQL_LOGGER}" in log
    assert PHONE in log


def test_a_connection_thrown_away_after_its_task_was_cancelled_is_no_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`segbot run` stopping while a part is in a query: SQLAlchemy's pool says it could
    not reset the connection, with the cancellation's traceback. Nothing was lost, so it
    is not an ERROR with a traceback at the end of a clean stop; any other pool error is."""
    configure_logging(load_settings())
    pool = logging.getLogger("sqlalchemy.pool.impl.AsyncAdaptedQueuePool")
    for error in (asyncio.CancelledError(), OSError("disk I/O error")):
        try:
            raise error
        except BaseException:
            pool.error("Exception during reset or similar", exc_info=True)
    log = capsys.readouterr().err
    assert "CancelledError" not in log
    assert log.count("Traceback") == 1
    assert "OSError: disk I/O error" in log


async def test_a_request_that_is_not_http_is_answered_400_and_no_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A URL past aiohttp's limit, from anyone on the internet: no ERROR, no traceback,
    none of the request's bytes in the log."""
    configure_logging(load_settings())
    runner = web.AppRunner(web.Application())
    await runner.setup()
    site = web.SockSite(runner, socket.create_server(("127.0.0.1", 0)))
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET /r/{'A' * 10_000}{PHONE} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        answer = await reader.readline()
        writer.close()
    finally:
        await runner.cleanup()
    assert answer.split()[1] == b"400"
    log = capsys.readouterr().err
    assert "ERROR" not in log
    assert "Traceback" not in log
    assert "AAAA" not in log


async def test_at_info_a_start_and_each_update_add_no_library_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Alembic's plugin setup and dialect at every start, and aiogram's line per update,
    are DEBUG; the migrations Alembic runs are still said at INFO."""
    configure_logging(load_settings(log_level="INFO"))
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'start.db'}")
    try:
        await migrations.upgrade(engine, "0001")
    finally:
        await engine.dispose()
    logging.getLogger("aiogram.event").info(
        "Update id=%s is %s. Duration %d ms by bot id=%d", 7, "handled", 9, BOT_ID
    )
    log = capsys.readouterr().err
    assert "INFO alembic.runtime.migration Running upgrade  -> 0001" in log
    assert "plugin" not in log
    assert "Context impl" not in log
    assert "aiogram" not in log

    configure_logging(load_settings(log_level="DEBUG"))
    logging.getLogger("aiogram.event").info("Update id=%s is %s.", 8, "handled")
    assert "DEBUG aiogram.event Update id=8 is handled." in capsys.readouterr().err
