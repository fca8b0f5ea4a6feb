"""`segbot emulator`: the Telegram Bot API emulator on its own (`python -m
telegram_emulator`), with how to point the bot at it and act as its users. It runs until
Ctrl-C or SIGTERM; a port that is taken is one line on stderr, exit 1."""

import asyncio
from contextlib import suppress
from typing import Annotated

import typer

from cli.execution import EXIT_FAILURE, fail
from telegram_emulator.__main__ import serve
from telegram_emulator.limits import Limits

HOST = "127.0.0.1"
BOT_USERNAME = "segbot_demo_bot"


def emulator(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Where it listens.")] = 8081,
    no_limits: Annotated[
        bool, typer.Option("--no-limits", help="No flood limits: never answers 429.")
    ] = False,
    rate: Annotated[
        int, typer.Option(min=1, help="Messages per second the whole bot may send (Telegram: 30).")
    ] = 30,
) -> None:
    """Start the Telegram Bot API emulator, to rehearse the bot without Telegram.

    It speaks the Bot API over HTTP, with Telegram's limits (429 with retry_after), and
    has a control API to act as users and see what each chat received."""
    limits = Limits(enabled=not no_limits, global_per_second=rate)
    typer.echo(how_to(f"http://{HOST}:{port}", limits))
    try:
        with suppress(KeyboardInterrupt):
            asyncio.run(serve(HOST, port, limits, BOT_USERNAME))
    except OSError as error:
        fail(
            f"cannot listen on {HOST}:{port} ({error.strerror}): choose another --port",
            EXIT_FAILURE,
        )


def how_to(base_url: str, limits: Limits) -> str:
    """What to do with an emulator at `base_url`: run the bot against it, act as users."""
    control = f"{base_url}/_emulator"
    limited = (
        f"{limits.global_per_second} messages/s, {limits.chat_per_second:g}/s per chat"
        if limits.enabled
        else "none (--no-limits)"
    )
    return f"""Starting the Telegram Bot API emulator at {base_url}; Telegram's limits: {limited}.
Ctrl-C stops it; what it saw is gone then.

Run the bot against it, in another terminal (any token of that shape will do):
  SEGBOT_TELEGRAM_API_BASE={base_url} SEGBOT_BOT_TOKEN=1:rehearsal \\
    SEGBOT_SECRET_KEY=rehearsal segbot run

Act as a user through its control API, {control}
(from Python: telegram_emulator.EmulatorClient("{base_url}")):
  curl -X POST {control}/users -d '{{"id": 1001, "first_name": "Ana", "language_code": "es"}}'
  curl -X POST {control}/users/1001/text -d '{{"text": "/start"}}'
  curl {control}/chats/1001/messages        # what the bot sent Ana

To rehearse a campaign on people of your own without starting anything:
  segbot rehearse CAMPAIGN --subscribers people.csv
"""
