"""The deployment files in deploy/ hold together with the code they start: the image has
every package segbot installs, every process they start runs a real command, the example
settings are segbot's own and cannot run as shipped, and the proxy sends Telegram's posts
to the processes that have the webhook route. No Docker or systemd is needed: the files
are read as those tools read them."""

from __future__ import annotations

import fnmatch
import shlex
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import typer
import yaml
from dotenv import dotenv_values
from typer.core import TyperGroup

from bot.process_roles import Role
from bot.webhook import WEBHOOK_PATH
from cli.app import app
from core.errors import ConfigError
from core.settings import load_settings, unknown_variables

if TYPE_CHECKING:  # Typer's own copy of Click
    from typer._click import Context

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def run_by_segbot(args: list[str]) -> Context:
    """`segbot ARGS` parsed as the CLI parses it, down to the command that would run (a
    command, option or role it does not have raises)."""
    command, name, parent = typer.main.get_command(app), "segbot", None
    while isinstance(command, TyperGroup):
        parent = command.make_context(name, [], parent=parent, resilient_parsing=True)
        name, *args = args
        found = command.get_command(parent, name)
        assert found is not None, f"segbot has no command {name!r}"
        # a deferred command's context is its real command's (cli/lazy_group.py)
        command = found.make_context(name, [], parent=parent, resilient_parsing=True).command
    return command.make_context(name, args, parent=parent)


def test_the_image_is_built_from_every_package_segbot_installs() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY . /src" in dockerfile  # the whole repository: no list of packages to drift
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]
    packages = [pattern.rstrip("*") for pattern in setuptools["packages"]["find"]["include"]]
    data = [
        path.relative_to(ROOT).as_posix()
        for package, patterns in setuptools["package-data"].items()
        for pattern in patterns
        for path in (ROOT / package).glob(pattern)
    ]
    needed = [*packages, *data, "pyproject.toml", "README.md"]
    left_out = [
        path
        for path in needed
        for pattern in ignored
        if fnmatch.fnmatch(path, pattern) or path.split("/")[0] == pattern
    ]
    assert data  # the patterns still name files
    assert left_out == []


def test_every_process_the_deployment_starts_runs_a_real_command() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    started = {
        name: service["command"]
        for name, service in compose["services"].items()
        if service.get("build") or "<<" in service or service.get("env_file")
    }
    assert started.keys() >= {"migrate", "bot", "sender", "scheduler", "web"}
    for command in started.values():
        run_by_segbot(command)
    assert "--webhook" in started["bot"]
    unit = (DEPLOY / "systemd" / "segbot@.service").read_text(encoding="utf-8")
    [exec_start] = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    program, *args = shlex.split(exec_start.removeprefix("ExecStart="))
    assert program.endswith("/bin/segbot")
    for role in ("bot", "sender", "scheduler", "web"):  # the units deployment.md enables
        assert f"segbot@{role}" in (ROOT / "docs" / "deployment.md").read_text()
        instance = [role if arg == "%i" else arg for arg in args if arg != "$RUN_OPTIONS"]
        assert run_by_segbot(instance).params["role"] is Role(role)
    assert run_by_segbot([*instance, "--webhook"]).params["webhook"]  # RUN_OPTIONS=--webhook


def test_the_proxy_sends_webhook_posts_to_the_bot_processes() -> None:
    caddyfile = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    webhook_route = caddyfile.split(f"reverse_proxy {WEBHOOK_PATH} {{", 1)[1].split("}", 1)[0]
    assert webhook_route.split() == ["dynamic", "a", "bot", "8080"]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert "ports" not in compose["services"]["web"]  # reached through the proxy only
    assert compose["services"]["proxy"]["ports"] == ["80:80"]


def test_the_example_settings_are_segbots_and_cannot_run_as_shipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    example = {
        name: value or "" for name, value in dotenv_values(DEPLOY / "segbot.env.example").items()
    }
    assert unknown_variables(example, env_file=None) == []
    for name, value in example.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.config_path is None  # segbot.yaml is optional: none is named
    with pytest.raises(ConfigError, match="SEGBOT_BOT_TOKEN and SEGBOT_SECRET_KEY must be set"):
        settings.require_for_run()
