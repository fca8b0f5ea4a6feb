"""Settings no value can crash: a port out of range, a rate or timeout that is not a
finite number, webhook connections outside the Bot API's 1-100, an empty SEGBOT_CONFIG, a
.env that is not UTF-8, each one ConfigError line naming the setting (a password never in
it); and the demo's settings, which take nothing from the environment or .env."""

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import given_settings, load_settings, unknown_variables

PASSWORD = "Db-Pa55word-x9"


@pytest.mark.parametrize("port", ["99999", "65536", "0"])
def test_a_database_port_out_of_range_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch, port: str
) -> None:
    monkeypatch.setenv("SEGBOT_DATABASE_URL", f"postgresql://u:{PASSWORD}@127.0.0.1:{port}/x")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == ("SEGBOT_DATABASE_URL: the port must be a number from 1 to 65535")


def test_a_database_port_in_range_is_kept() -> None:
    url = load_settings(database_url="postgresql://u@db:65535/x").database_url
    assert url.get_secret_value() == "postgresql+asyncpg://u@db:65535/x"


@pytest.mark.parametrize("name", ["SEGBOT_RATE_LIMIT", "SEGBOT_SEND_TIMEOUT"])
@pytest.mark.parametrize("value", ["inf", "Infinity", "nan"])
def test_a_rate_or_timeout_must_be_finite(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"^{name}: Input should be a finite number$"):
        load_settings()


@pytest.mark.parametrize(
    ("value", "bound"),
    [("0", "greater than or equal to 1"), ("101", "less than or equal to 100")],
)
def test_webhook_connections_are_the_bot_apis_1_to_100(
    monkeypatch: pytest.MonkeyPatch, value: str, bound: str
) -> None:
    monkeypatch.setenv("SEGBOT_WEBHOOK_MAX_CONNECTIONS", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == f"SEGBOT_WEBHOOK_MAX_CONNECTIONS: Input should be {bound}"


def test_an_empty_config_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGBOT_CONFIG", "")
    assert load_settings().config is None


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfeSEGBOT_X=1\n", "SEGBOT_SECRET_KEY=x\n".encode("utf-16")],
    ids=["not-utf8", "utf16-as-powershell-writes"],
)
def test_a_dot_env_that_is_not_utf8_is_one_line(tmp_path: Path, content: bytes) -> None:
    (tmp_path / ".env").write_bytes(content)
    expected = "^.env: not UTF-8 text \\(byte 0\\); save it as UTF-8$"
    with pytest.raises(ConfigError, match=expected):
        load_settings()
    with pytest.raises(ConfigError, match=expected):
        unknown_variables({})


def test_the_demos_settings_take_nothing_from_the_environment_or_dot_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SEGBOT_REDIS_URL", "redis://127.0.0.1:6379/7")
    monkeypatch.setenv("SEGBOT_RATE_LIMIT", "abc")
    (tmp_path / ".env").write_text(
        "SEGBOT_DATABASE_URL=postgresql://u@db/x\nSEGBOT_TELEGRAM_API_BASE=https://x.example\n",
        encoding="utf-8",
    )
    settings = given_settings(bot_token="1:abc", web_port=8081)
    assert settings.redis_url is None
    assert settings.rate_limit == 25
    assert settings.database_url.get_secret_value() == "sqlite+aiosqlite:///./segbot.db"
    assert settings.telegram_api_base == "https://api.telegram.org"
    assert (settings.bot_token is not None, settings.web_port) == (True, 8081)


def test_a_bad_value_given_to_the_demos_settings_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^SEGBOT_RATE_LIMIT: Input should be a finite number$"):
        given_settings(rate_limit=float("inf"))


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SEGBOT_TELEGRAM_API_BASE", "http://127.0.0.1:abc", "the port must be a number from 1"),
        ("SEGBOT_TELEGRAM_API_BASE", "http://127.0.0.1:99999", "the port must be a number from 1"),
        ("SEGBOT_PUBLIC_URL", "https://exa mple.com", "holds a space, a tab or a line break"),
        ("SEGBOT_PUBLIC_URL", "https://x.example\nfoo", "holds a space, a tab or a line break"),
        ("SEGBOT_ADMIN_IDS", "1000,99999999999999999999999", "less than or equal to"),
        ("SEGBOT_ADMIN_IDS", "0", "greater than or equal to 1"),
        ("SEGBOT_WEB_HOST", "127.0.0.1\n", "a host name or address, without spaces"),
        ("SEGBOT_RATE_LIMIT", "1e-9", "at least 0.01 messages a second"),
        ("SEGBOT_SEND_TIMEOUT", "1e-6", "at least 1 s"),
        ("SEGBOT_BOT_TOKEN", "123456:ABC\n", "not a bot token"),
        ("SEGBOT_BOT_TOKEN", "\u0661\u0662\u0663:abc", "not a bot token"),
        ("SEGBOT_DATABASE_URL", "sqlite://", "an in-memory SQLite database is gone"),
        ("SEGBOT_DATABASE_URL", "sqlite+aiosqlite:///x.db\n", "holds a space, a tab or a line"),
        ("SEGBOT_DATABASE_URL", "sqlite+aiosqlite:///x.db?timeout=abc", "'timeout' is a number"),
        ("SEGBOT_DATABASE_URL", "sqlite+aiosqlite:///x.db?foo=1", "takes no option 'foo'"),
        ("SEGBOT_DATABASE_URL", "postgresql://u@h/d?foo=bar", "asyncpg takes no option 'foo'"),
        ("SEGBOT_DATABASE_URL", "postgresql://u@h/d?command_timeout=abc", "is a number, 0 or"),
        ("SEGBOT_DATABASE_URL", "postgresql://u@h/d?prepared_statement_cache_size=-5", "0 or"),
    ],
)
def test_a_value_that_would_fail_later_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    """Each was accepted once, then failed at its first use: a campaign spent on a Bot API
    URL no request could reach, an admin command crashing on an id no column holds, a
    database that forgot what was saved, a connection failing on every try."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(f"{name}: "), caught.value
    assert says in str(caught.value)


def test_an_empty_web_host_is_the_default_not_every_interface(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEGBOT_WEB_HOST", "")
    assert load_settings().web_host == "127.0.0.1"


def test_libpqs_application_name_is_kept_for_the_driver() -> None:
    url = load_settings(database_url="postgresql://u@db/x?application_name=segbot").database_url
    assert url.get_secret_value() == "postgresql+asyncpg://u@db/x?application_name=segbot"
