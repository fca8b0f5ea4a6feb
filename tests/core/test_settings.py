from pathlib import Path

import pytest
from pydantic import ValidationError

from core.errors import ConfigError
from core.settings import DEFAULT_DATABASE_URL, Settings, load_settings, unknown_variables

PASSWORD = "Db-Pa55word-x9"


def test_defaults_follow_the_design_contract() -> None:
    settings = load_settings()
    assert settings.database_url.get_secret_value() == DEFAULT_DATABASE_URL
    assert settings.telegram_api_base == "https://api.telegram.org"
    assert settings.public_url == "http://127.0.0.1:8080"
    assert (settings.web_host, settings.web_port) == ("127.0.0.1", 8080)
    assert settings.rate_limit == 25
    assert settings.admin_ids == ()
    assert settings.bot_token is None
    assert settings.secret_key is None
    assert settings.redis_url is None
    assert settings.log_sql is False


def test_reads_prefixed_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGBOT_BOT_TOKEN", "123:abc-DEF_1")
    monkeypatch.setenv("SEGBOT_ADMIN_IDS", "11, 22,33")
    monkeypatch.setenv("SEGBOT_RATE_LIMIT", "12.5")
    monkeypatch.setenv("SEGBOT_TELEGRAM_API_BASE", "http://127.0.0.1:8081/")
    settings = load_settings()
    assert settings.bot_token is not None
    assert settings.bot_token.get_secret_value() == "123:abc-DEF_1"
    assert "123:abc" not in repr(settings)  # secrets never print
    assert settings.admin_ids == (11, 22, 33)
    assert settings.rate_limit == 12.5
    assert settings.telegram_api_base == "http://127.0.0.1:8081"


def test_reads_dot_env_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SEGBOT_SECRET_KEY=from-dotenv\n")
    secret = load_settings().secret_key
    assert secret is not None
    assert secret.get_secret_value() == "from-dotenv"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db/segbot", "postgresql+asyncpg://u:p@db/segbot"),
        ("postgresql+asyncpg://u@db/segbot", "postgresql+asyncpg://u@db/segbot"),
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
    ],
)
def test_database_url_gets_the_async_driver(given: str, expected: str) -> None:
    assert load_settings(database_url=given).database_url.get_secret_value() == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [  # libpq's sslmode, as hosting providers write it: asyncpg takes it as ssl
        ("postgresql://u:p@db/segbot?sslmode=require", "postgresql+asyncpg://u:p@db/segbot?ssl=require"),
        ("postgresql://u@db/s?sslmode=verify-full&application_name=x", "postgresql+asyncpg://u@db/s?application_name=x&ssl=verify-full"),
        ("postgresql://u@db/s?ssl=disable&sslmode=require", "postgresql+asyncpg://u@db/s?ssl=disable"),
    ],
)  # fmt: skip
def test_a_database_urls_sslmode_is_given_to_the_driver_as_ssl(given: str, expected: str) -> None:
    assert load_settings(database_url=given).database_url.get_secret_value() == expected


def test_an_sslmode_there_is_not_is_refused_without_quoting_the_url() -> None:
    with pytest.raises(ConfigError) as invalid:
        load_settings(database_url=f"postgresql://u:{PASSWORD}@db/s?sslmode=always")
    assert "sslmode must be one of disable, allow, prefer, require, verify-ca" in str(invalid.value)
    assert PASSWORD not in str(invalid.value)


def test_url_passwords_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGBOT_DATABASE_URL", f"postgresql://segbot:{PASSWORD}@db/segbot")
    monkeypatch.setenv("SEGBOT_REDIS_URL", f"redis://:{PASSWORD}@cache:6379/0")
    settings = load_settings()
    shown = [
        repr(settings),
        str(settings),
        str(settings.model_dump()),
        settings.model_dump_json(),
        str(settings.database_url),
        f"{settings.redis_url}",
    ]
    assert all(PASSWORD not in text for text in shown)
    assert "postgresql+asyncpg://segbot:***@db/segbot" in repr(settings)  # which server, still
    assert "redis://:***@cache:6379/0" in repr(settings)
    assert settings.database_url.get_secret_value().endswith(f":{PASSWORD}@db/segbot")
    assert settings.redis_url is not None
    assert PASSWORD in settings.redis_url.get_secret_value()


@pytest.mark.parametrize(
    "url",
    [f"postgresql//segbot:{PASSWORD}@db/segbot", f"postgresql://segbot:{PASSWORD}@db:port/segbot"],
)
def test_a_malformed_database_url_is_reported_without_quoting_it(url: str) -> None:
    with pytest.raises(ConfigError, match="SEGBOT_DATABASE_URL: not a database URL") as raised:
        load_settings(database_url=url)
    assert PASSWORD not in str(raised.value)
    with pytest.raises(ValidationError) as invalid:  # built directly, as the demo does
        Settings(database_url=url)
    assert PASSWORD not in str(invalid.value)


def test_a_malformed_token_is_reported_without_quoting_it() -> None:
    with pytest.raises(ValidationError) as invalid:
        Settings(bot_token="123456 SECRET-part")
    assert "SECRET-part" not in str(invalid.value)


def test_sql_logging_is_asked_for_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGBOT_LOG_SQL", "true")
    assert load_settings().log_sql is True


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SEGBOT_DATABASE_URL", "nonsense://", "unsupported database 'nonsense'"),
        ("SEGBOT_DATABASE_URL", "::not a url::", "not a database URL"),
        ("SEGBOT_BOT_TOKEN", "hello", "not a bot token"),
        ("SEGBOT_RATE_LIMIT", "fast", "valid number"),
        ("SEGBOT_RATE_LIMIT", "0", "greater than 0"),
        ("SEGBOT_WEB_PORT", "70000", "less than or equal to 65535"),
        ("SEGBOT_ADMIN_IDS", "1,two", "valid integer"),
        ("SEGBOT_PUBLIC_URL", "ftp://x", "http(s) URL"),
        ("SEGBOT_CONSOLE_MAX_AGE", str(10**14), "less than or equal to 31536000"),
    ],
)
def test_malformed_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    text = str(raised.value)
    assert text.startswith(f"{variable}: ")
    assert message in text
    assert "\n" not in text


def test_running_requires_token_and_secret() -> None:
    with pytest.raises(ConfigError, match="SEGBOT_BOT_TOKEN and SEGBOT_SECRET_KEY must be set"):
        load_settings().require_for_run()
    load_settings(bot_token="1:a", secret_key="s").require_for_run()


def test_config_file_defaults_to_segbot_yaml_when_present(tmp_path: Path) -> None:
    assert load_settings().config_path is None
    (tmp_path / "segbot.yaml").write_text("{}\n")
    assert load_settings().config_path == Path("segbot.yaml")
    assert load_settings(config=tmp_path / "other.yaml").config_path == tmp_path / "other.yaml"


def test_unknown_segbot_variables_are_named_with_the_closest_setting(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SEGBOT_RATELIMIT=5\nSEGBOT_SECRET_KEY=fine\nOTHER=1\n")
    environ = {
        "SEGBOT_BOT_TOKN": "123:do-not-show-me",
        "SEGBOT_WHATEVER": "x",
        "segbot_bot_token": "read in any case",
        "SEGBOT_TEST_DATABASE_URL": "the test suite's",
        "PATH": "/bin",
    }
    warnings = unknown_variables(environ, env_file=tmp_path / ".env")
    assert warnings == [
        "SEGBOT_BOT_TOKN is not a segbot setting and is ignored; did you mean SEGBOT_BOT_TOKEN?",
        f"SEGBOT_RATELIMIT (in {tmp_path / '.env'}) is not a segbot setting and is ignored; "
        "did you mean SEGBOT_RATE_LIMIT?",
        "SEGBOT_WHATEVER is not a segbot setting and is ignored "
        "(the README's configuration table lists the settings)",
    ]
    assert not any("do-not-show-me" in warning for warning in warnings)
    assert unknown_variables({"SEGBOT_DATABASE_URL": "x"}, env_file=None) == []
