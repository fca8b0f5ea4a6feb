"""Settings from `SEGBOT_*` environment variables (and `.env`). Their names are a contract
(the README's "Configuration" table): deployments rely on them.

Build them once, in the entry point, with `load_settings()`; pass them down from there.
`segbot demo`, which must not use an operator's services, builds its own with
`given_settings()`, which reads neither the environment nor `.env`.

A `SEGBOT_*` variable that is no setting (a misspelt `SEGBOT_BOT_TOKN`) would be ignored
without a word: `unknown_variables()` names each, in the environment or `.env`, with the
closest setting, and the entry point warns (never showing a value).

Secrets are held as secrets: the token, the keys and every URL that may carry a password
(the database's, Redis's) are pydantic secrets, so `repr()`, `str()`, `model_dump()`,
`model_dump_json()` and validation errors never show them; a URL shows with its password
masked. Code that needs the value asks for it: `.get_secret_value()`.
"""

import inspect
import math
import re
from collections.abc import Mapping
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import Field, Secret, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from core.config import config_error
from core.errors import ConfigError

ENV_PREFIX = "SEGBOT_"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./segbot.db"
DEFAULT_CONFIG_FILE = Path("segbot.yaml")
DEFAULT_WEB_HOST = "127.0.0.1"
ENV_FILE = Path(".env")
WEBHOOK_CONNECTIONS_MOST = 100  # setWebhook's max_connections: 1-100
# Read by the test suite, not by segbot: known, so never warned about.
TEST_VARIABLES = frozenset({"SEGBOT_TEST_DATABASE_URL", "SEGBOT_TEST_REDIS_URL"})

# The async driver segbot uses for each supported database, keyed by backend name.
ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
# A PostgreSQL URL's `sslmode` (libpq's, as hosting providers write it), as asyncpg takes it.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")  # matched whole: no line break after it
TELEGRAM_IDS = (1, 2**63 - 1)  # a user id, as a BIGINT holds it
# The least of a setting a number may be, and why: below it nothing would work as meant.
_LEAST = {
    "rate_limit": (0.01, "messages a second (one in 100 s): slower, a broadcast would look hung"),
    "send_timeout": (
        1.0,
        "s: shorter, Telegram could not answer in time, every message would be unknown and "
        "the campaign spent",
    ),
}


class SecretUrl(Secret[str]):
    """A URL that may carry a password (SEGBOT_DATABASE_URL, SEGBOT_REDIS_URL): shown with
    the password masked, so an operator still sees which server and database it names."""

    def _display(self) -> str:
        try:
            return make_url(self.get_secret_value()).render_as_string(hide_password=True)
        except (ArgumentError, ValueError):  # unparsable: the password cannot be told apart
            return "**********"


def _http_url(value: str) -> str:
    """`value` without a trailing slash; ValueError unless it is an http(s) URL with a host
    (and a port from 1 to 65535 if it gives one), all printable, nothing blank in it."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    if _NOT_IN_URL.search(value):
        raise ValueError("holds a space, a tab or a line break: no URL does")
    try:
        port = parts.port
    except ValueError:  # not a number, or past 65535
        port = 0
    if port == 0:
        raise ValueError("the port must be a number from 1 to 65535")
    return value.rstrip("/")


# Options a SQLite URL may give (a file: URI, the driver's busy wait); segbot sets the rest
# itself (core.db), and the driver would ignore any other without a word.
SQLITE_OPTIONS = frozenset({"uri", "timeout"})
# libpq's options that asyncpg takes as server settings (core.db hands them over so).
SERVER_SETTINGS = ("application_name",)
# What SQLAlchemy's asyncpg dialect takes itself, besides asyncpg.connect's parameters.
_ASYNCPG_DIALECT_OPTIONS = frozenset({"prepared_statement_cache_size", *SERVER_SETTINGS})
# Options that are counts or seconds, never negative (SQLite's timeout, asyncpg's).
_NUMERIC_OPTIONS = frozenset(
    {
        "timeout", "command_timeout", "statement_cache_size", "max_cached_statement_lifetime",
        "max_cacheable_statement_size", "prepared_statement_cache_size",
    }
)  # fmt: skip
_NOT_IN_URL = re.compile(r"[\s\x00-\x1f\x7f]")


def _check_database(url: URL) -> None:
    """ValueError for a database URL that would lose what is written (SQLite in memory)
    or fail every connection: an option its driver does not take, or a value it cannot
    read. Options are named, never their values (a URL may hold a password)."""
    given = set(url.query)
    if url.get_backend_name() == "sqlite":
        if url.query.get("uri") != "true" and url.database in (None, "", ":memory:"):
            raise ValueError(
                "an in-memory SQLite database is gone when the command ends: name a file "
                "(sqlite+aiosqlite:///segbot.db)"
            )
        unknown = sorted(given - SQLITE_OPTIONS) if url.query.get("uri") != "true" else []
    else:
        import asyncpg  # only where it is the driver

        taken = set(inspect.signature(asyncpg.connect).parameters) | _ASYNCPG_DIALECT_OPTIONS
        unknown = sorted(given - taken)
    if unknown:
        raise ValueError(
            f"{url.get_driver_name()} takes no option {', '.join(map(repr, unknown))}: "
            "check what follows the ?"
        )
    for name in sorted(given & _NUMERIC_OPTIONS):
        if not _non_negative_number(url.query[name]):
            raise ValueError(f"the option {name!r} is a number, 0 or more")
    try:
        url.get_dialect()().create_connect_args(url)
    except (ArgumentError, ValueError, TypeError) as error:
        raise ValueError(f"an option after ? cannot be read: {type(error).__name__}") from None


def _non_negative_number(value: str | tuple[str, ...]) -> bool:
    try:
        number = float(value if isinstance(value, str) else "x")
    except ValueError:
        return False
    return math.isfinite(number) and number >= 0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,  # a wrong value may still be a secret, or hold one
    )

    bot_token: SecretStr | None = None
    database_url: SecretUrl = SecretUrl(DEFAULT_DATABASE_URL)
    telegram_api_base: str = "https://api.telegram.org"
    admin_ids: Annotated[
        tuple[Annotated[int, Field(ge=TELEGRAM_IDS[0], le=TELEGRAM_IDS[1])], ...], NoDecode
    ] = ()
    public_url: str = "http://127.0.0.1:8080"
    web_host: str = DEFAULT_WEB_HOST
    web_port: int = Field(default=8080, ge=0, le=65535)
    secret_key: SecretStr | None = None
    # Both finite: `inf` and `nan` read as floats, and the sender's pacing and waits fail on them.
    rate_limit: float = Field(default=25.0, gt=0, allow_inf_nan=False)
    # Seconds a broadcast message's request may go unanswered; then its outcome is unknown.
    send_timeout: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    # The most updates Telegram posts to the webhook at once: by default the Bot API's most,
    # not Telegram's 40, because the inbox commits what arrives together in one transaction
    # and bot processes scaled out share the connections.
    webhook_max_connections: int = Field(
        default=WEBHOOK_CONNECTIONS_MOST, ge=1, le=WEBHOOK_CONNECTIONS_MOST
    )
    redis_url: SecretUrl | None = None
    config: Path | None = None
    db_pool_size: int = Field(default=5, ge=1)  # PostgreSQL connections kept per process
    db_max_overflow: int = Field(default=10, ge=0)  # and opened beyond that under load
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Every SQL statement with its parameters in the log (personal data!), for debugging.
    log_sql: bool = False
    # An OpenAI-compatible chat completions endpoint (e.g. http://127.0.0.1:11434/v1) and
    # model for AI segment names, persona narratives and per-persona rewrites; optional.
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    # The console (Mini App): seconds a Telegram sign-in (initData) stays good, and
    # minutes a one-time desktop sign-in link stays good.
    console_max_age: int = Field(default=86_400, gt=0, le=31_536_000)  # at most a year
    console_link_minutes: int = Field(default=10, gt=0, le=60)

    @field_validator(
        "bot_token",
        "secret_key",
        "redis_url",
        "config",
        "llm_base_url",
        "llm_model",
        "llm_api_key",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("rate_limit", "send_timeout")
    @classmethod
    def _at_least(cls, value: float, info: ValidationInfo) -> float:
        least, why = _LEAST[str(info.field_name)]
        if value < least:
            raise ValueError(f"at least {least:g} {why}")
        return value

    @field_validator("web_host", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        """An empty host is the default, as an empty setting is unset elsewhere (to the
        server, "" would mean every interface)."""
        return DEFAULT_WEB_HOST if value == "" else value

    @field_validator("web_host")
    @classmethod
    def _one_host(cls, value: str) -> str:
        if not value.strip() or _NOT_IN_URL.search(value):
            raise ValueError("a host name or address, without spaces or line breaks")
        return value

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError("not a bot token (expected the form 123456:ABC-DEF from @BotFather)")
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: SecretUrl) -> SecretUrl:
        """Accept plain `postgresql://` and `sqlite://` URLs and pick the async driver. The
        messages never quote the URL: it may hold the password."""
        try:
            url = make_url(value.get_secret_value())
        except (ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
            raise ValueError(
                "not a database URL (expected sqlite+aiosqlite:///FILE or "
                "postgresql://USER:PASSWORD@HOST/DB)"
            ) from None
        if _NOT_IN_URL.search(value.get_secret_value()):
            raise ValueError("holds a space, a tab or a line break: no URL does")
        if url.port is not None and not 1 <= url.port <= 65535:
            raise ValueError("the port must be a number from 1 to 65535")
        driver = ASYNC_DRIVERS.get(url.get_backend_name())
        if driver is None:
            raise ValueError(
                f"unsupported database {url.get_backend_name()!r}; use "
                "sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DB"
            )
        if "sslmode" in url.query:  # libpq's name (hosting providers give it); asyncpg's is ssl
            mode = url.query["sslmode"]
            if mode not in SSL_MODES:
                raise ValueError(f"sslmode must be one of {', '.join(SSL_MODES)}")
            url = url.difference_update_query(["sslmode"])
            url = url if "ssl" in url.query else url.update_query_dict({"ssl": mode})
        url = url.set(drivername=driver)
        _check_database(url)
        return SecretUrl(url.render_as_string(hide_password=False))

    @field_validator("telegram_api_base", "public_url")
    @classmethod
    def _valid_http_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("llm_base_url")
    @classmethod
    def _valid_llm_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        return value.lower() if value.lower() in ("text", "json") else value.upper()

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url.get_secret_value()).get_backend_name() == "sqlite"

    @property
    def config_path(self) -> Path | None:
        """`SEGBOT_CONFIG`, else `./segbot.yaml` when it exists."""
        if self.config is not None:
            return self.config
        return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.exists() else None

    def require_for_run(self) -> None:
        """Fail with one line naming every setting that running the bot needs but lacks."""
        missing = [
            ENV_PREFIX + name.upper()
            for name in ("bot_token", "secret_key")
            if getattr(self, name) is None
        ]
        if missing:
            raise ConfigError(f"{' and '.join(missing)} must be set to run the bot")


class _GivenSettings(Settings):
    """Settings from the values given and the defaults alone: no environment, no `.env`."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def load_settings(**overrides: object) -> Settings:
    """Read the environment (and `.env`); a bad value becomes one ConfigError line naming it."""
    return _validated(Settings, overrides)


def given_settings(**values: object) -> Settings:
    """Settings of `values` and the defaults, whatever the environment and `.env` say (for
    `segbot demo`, which must not use an operator's services); a bad value is one
    ConfigError line naming it."""
    return _validated(_GivenSettings, values)


def _validated(model: type[Settings], values: dict[str, Any]) -> Settings:
    try:
        return model(**values)
    except ValidationError as error:
        raise config_error(
            error, name=lambda location: ENV_PREFIX + "".join(map(str, location[:1])).upper()
        ) from None
    except UnicodeDecodeError as error:
        raise _not_utf8(ENV_FILE, error) from None


def _not_utf8(path: Path, error: UnicodeDecodeError) -> ConfigError:
    return ConfigError(f"{path}: not UTF-8 text (byte {error.start}); save it as UTF-8")


def setting_names() -> frozenset[str]:
    """Every `SEGBOT_*` variable segbot reads."""
    return frozenset(ENV_PREFIX + name.upper() for name in Settings.model_fields)


def unknown_variables(environ: Mapping[str, str], *, env_file: Path | None = ENV_FILE) -> list[str]:
    """One sentence for each `SEGBOT_*` name in `environ` or `env_file` that no setting
    has (names only: a value may be a secret), with the closest setting when one is
    close. Names are matched in any case, as the settings are read. An `env_file` that is
    not UTF-8 is a ConfigError."""
    known = setting_names() | TEST_VARIABLES
    found = {name.upper(): "" for name in environ}
    if env_file is not None and env_file.is_file():
        try:
            names = dotenv_values(env_file, encoding="utf-8")
        except UnicodeDecodeError as error:
            raise _not_utf8(env_file, error) from None
        found |= {name.upper(): f" (in {env_file})" for name in names}
    return [
        f"{name}{where} is not a segbot setting and is ignored{_closest(name, known)}"
        for name, where in sorted(found.items())
        if name.startswith(ENV_PREFIX) and name not in known
    ]


def _closest(name: str, known: frozenset[str]) -> str:
    """The hint: the setting whose name is close, if one is (compared without the prefix
    that every name shares)."""
    tails = {setting.removeprefix(ENV_PREFIX): setting for setting in known}
    match = get_close_matches(name.removeprefix(ENV_PREFIX), list(tails), n=1, cutoff=0.6)
    if not match:
        return " (the README's configuration table lists the settings)"
    return f"; did you mean {tails[match[0]]}?"
