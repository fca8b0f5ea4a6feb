"""Process logging: plain lines for a terminal, or one JSON object per line
(`SEGBOT_LOG_FORMAT=json`) for a log collector, at `SEGBOT_LOG_LEVEL`.

The promise: no secret reaches the log, whichever library logs it, and no personal data
comes from the database drivers.

- Secrets: `Redactor`, on the handler every record goes through, takes out of the message,
  its arguments, its traceback and its stack: the bot token (and any `bot<id>:<secret>` in
  a Bot API URL, where aiogram's network errors quote it), SEGBOT_SECRET_KEY and the webhook
  secret derived from it, the passwords of SEGBOT_DATABASE_URL and SEGBOT_REDIS_URL (and of
  any `scheme://user:password@` URL), and SEGBOT_LLM_API_KEY.
- Personal data: the driver loggers (SQLAlchemy, aiosqlite, asyncpg, Redis) would print
  every query's parameters and rows at INFO or DEBUG (phones, emails, names, message
  texts); they are held at WARNING, and engines leave parameters out of their errors
  (core.db). `SEGBOT_LOG_SQL=true` lets SQL statements with their parameters through, for
  debugging only. What segbot's own modules log names updates and rows by id, never by
  what people wrote.

APScheduler's routine reports go to DEBUG (`SchedulerChatter`): each job run, each job
added or removed, its own start and stop, a run skipped while the last one still goes on,
a job cancelled by a stop. A missed run time and a job's failure keep their level, and
segbot's jobs log their own summaries at INFO. Also to DEBUG: aiogram's line per update
handled and Alembic's lines at every start (`LibraryRoutine`; a migration it runs stays
INFO), SQLAlchemy's report of a connection thrown away because its task was cancelled
mid-query (`AbandonedConnections`), and aiohttp's of a request it could not read as HTTP
(`BadHttp`).
"""

import asyncio
import json
import logging
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from aiohttp.http_exceptions import HttpProcessingError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.webhook import webhook_secret
from core.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
REDACTED = "***"

# A secret shorter than this is not searched for in the log: it could not be told apart from
# ordinary words (a 3-letter test password would blank every word that contains it).
MIN_SECRET_LENGTH = 6
DESCRIPTION_LIMIT = 200  # characters of a server's description kept (Telegram's are short)

# Loggers of the database drivers: at INFO and DEBUG they print statements with their
# parameters, and result rows.
DRIVER_LOGGERS = ("sqlalchemy", "aiosqlite", "asyncpg", "redis")
SQL_LOGGER = "sqlalchemy.engine"  # statements and their parameters at INFO (SEGBOT_LOG_SQL)
POOL_LOGGER = "sqlalchemy.pool"  # and its children: the connection pools
SCHEDULER_LOGGER = "apscheduler"  # and its children: apscheduler.scheduler, .executors.*
HTTP_SERVER_LOGGER = "aiohttp.server"
AIOGRAM_EVENTS_LOGGER = "aiogram.event"  # `Update id=... is handled. Duration 9 ms`
ALEMBIC_LOGGER = "alembic"
_MIGRATING = re.compile(r"Running (upgrade|downgrade|stamp)")
# APScheduler's warning that a job's run was skipped because its last run still goes on.
_STILL_RUNNING = "maximum number of running instances reached"

# The token in a Bot API URL: https://api.telegram.org/bot<id>:<secret>/<method>.
_TOKEN_IN_URL = re.compile(r"\b(bot\d+:)[A-Za-z0-9_-]+")
# A bot token written bare: <id>:<secret> (@BotFather's secrets are 35 characters).
_BARE_TOKEN = re.compile(r"\b(\d{3,}:)[A-Za-z0-9_-]{30,}")
# The password of a URL with credentials: scheme://user:password@host.
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@]*:)[^\s/?#@]+(@)")
_FORMATTER = logging.Formatter()  # renders tracebacks before they are redacted


def without_bot_tokens(text: str) -> str:
    """`text` with the secret of any bot token in it, in a Bot API URL or bare, as `***`:
    for what a server answered, which may repeat the URL it was sent (`Cannot POST
    /bot<token>/sendMessage`) and is shown or stored where no log filter reads it."""
    text = _TOKEN_IN_URL.sub(rf"\1{REDACTED}", text)
    return _BARE_TOKEN.sub(rf"\1{REDACTED}", text)


def as_said(description: object) -> str:
    """A server's `description` as one log line may carry it: printable characters only
    (a newline or an escape sequence in it could forge or garble log lines), at most
    DESCRIPTION_LIMIT of them (a megabyte of it would be logged for every message), and
    no bot token (a server that repeats the URL it was sent repeats the token in it)."""
    text = "".join(c if c.isprintable() else " " for c in str(description or ""))
    text = " ".join(without_bot_tokens(text).split())
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 1] + "…"


class Redactor(logging.Filter):
    """Replaces secrets with `***` in everything a record will print, so no handler after
    it can write them: the message with its arguments merged in, the traceback, the stack."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is taken out whole.
        searched = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len)[::-1]
        self._secrets = re.compile("|".join(map(re.escape, searched))) if searched else None

    def redact(self, text: str) -> str:
        text = without_bot_tokens(text)
        text = _URL_PASSWORD.sub(rf"\1{REDACTED}\2", text)
        return text if self._secrets is None else self._secrets.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(_message(record)), None
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class SchedulerChatter(logging.Filter):
    """APScheduler's routine records become DEBUG ones, printed only where DEBUG is on:

    - its INFO: every job run (twice) and every job it is handed (the campaign sync hands
      them over each minute), which buried everything else `segbot run` said;
    - a run skipped because the job's last run is still going: segbot's jobs never overlap
      by design, and a slow campaign sync simply runs again at its next turn;
    - a job cancelled because the scheduler stopped (segbot is stopping, or this process
      lost the lead), which APScheduler reports as a failure with a traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not _under(record.name, SCHEDULER_LOGGER):
            return True
        cancelled = _cancelled(record)
        skipped = _STILL_RUNNING in str(record.msg)
        if record.levelno != logging.INFO and not cancelled and not skipped:
            return True
        if cancelled:
            return _as_debug(
                record, f"a job was cancelled as the scheduler stopped ({_message(record)})"
            )
        return _as_debug(record)


class LibraryRoutine(logging.Filter):
    """INFO records libraries write for every update or every start become DEBUG ones:
    aiogram's line per update handled, and Alembic's plugin setup and database dialect at
    each start. A migration Alembic runs stays at INFO (`Running upgrade 0019 -> 0020`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        per_update = _under(record.name, AIOGRAM_EVENTS_LOGGER)
        per_start = _under(record.name, ALEMBIC_LOGGER) and not _MIGRATING.match(_message(record))
        return _as_debug(record) if per_update or per_start else True


def _under(name: str, logger: str) -> bool:
    return name == logger or name.startswith(f"{logger}.")


class AbandonedConnections(logging.Filter):
    """SQLAlchemy's pool reports a connection it could not reset because the task using it
    was cancelled mid-query (segbot stopping while a part was in the database) as an ERROR
    with a traceback. Nothing was lost: the connection is thrown away and the server rolls
    its transaction back. Such records become DEBUG ones."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(POOL_LOGGER) or not _cancelled(record):
            return True
        return _as_debug(
            record, "a database connection whose task was cancelled mid-query was thrown away"
        )


class BadHttp(logging.Filter):
    """aiohttp's server reports a request it cannot read as HTTP (a URL or header past its
    limits, a line that is no HTTP) as an ERROR with a traceback and the request's first
    bytes, after answering it 400. Anyone on the internet can send one: such records
    become DEBUG ones naming the fault, without the bytes."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if record.name != HTTP_SERVER_LOGGER or not isinstance(error, HttpProcessingError):
            return True
        return _as_debug(
            record, f"a request that is not HTTP was answered 400 ({type(error).__name__})"
        )


def _cancelled(record: logging.LogRecord) -> bool:
    return record.exc_info is not None and isinstance(record.exc_info[1], asyncio.CancelledError)


def _as_debug(record: logging.LogRecord, message: str | None = None) -> bool:
    """Make `record` a DEBUG one (saying `message` instead, with no traceback, when given);
    whether it is still printed."""
    if message is not None:
        record.msg, record.args, record.exc_info, record.exc_text = message, None, None, None
    record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
    return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def _message(record: logging.LogRecord) -> str:
    """The record's message with its arguments merged in, as a formatter would print it;
    one whose arguments do not fit its format is printed as both, not raised here (it would
    break the code that logged it)."""
    try:
        return record.getMessage()
    except Exception:  # whatever an argument's __str__ raises
        return f"{record.msg!s} (arguments that do not fit it: {record.args!r})"


def secrets_of(settings: Settings) -> Iterator[str]:
    """Every secret value `settings` hold (the token's secret part covers the whole token)."""
    if settings.bot_token is not None:
        yield settings.bot_token.get_secret_value().partition(":")[2]
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value()
        yield key
        yield webhook_secret(key)
    if settings.llm_api_key is not None:
        yield settings.llm_api_key.get_secret_value()
    for url in (settings.database_url, settings.redis_url):
        if url is not None:
            yield from _password(url.get_secret_value())


def _password(url: str) -> Iterator[str]:
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):  # unparsable: `_URL_PASSWORD` is left to find it
        return
    if password:
        yield str(password)


class JsonFormatter(logging.Formatter):
    """time (UTC, ISO 8601), level, logger, message, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    """Send every record to stderr in the configured format and level, secrets redacted;
    the database drivers say only warnings unless SEGBOT_LOG_SQL asks for the SQL, and
    APScheduler's, aiogram's and Alembic's routine only at DEBUG."""
    handler = logging.StreamHandler()
    formatter = JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    handler.addFilter(SchedulerChatter())
    handler.addFilter(LibraryRoutine())
    handler.addFilter(AbandonedConnections())
    handler.addFilter(BadHttp())
    handler.addFilter(Redactor(secrets_of(settings)))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    for name in DRIVER_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if settings.log_sql else logging.WARNING)
    if settings.log_sql:
        logging.getLogger(SQL_LOGGER).setLevel(logging.INFO)
