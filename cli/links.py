"""`segbot links customer|utm`: deep links that open the bot with a source.

Each prints the /start payload, or the whole t.me link with --bot; a bad value is one
line on stderr, exit 2.
"""

from typing import Annotated

import typer

from cli.execution import check_source_name, fail, settings_or_exit
from core.sources import customer_payload, start_link, utm_payload

app = typer.Typer(
    help="Deep links that open the bot with a source.",
    no_args_is_help=True,
    add_completion=False,
)
BotOption = Annotated[
    str | None, typer.Option("--bot", help="The bot's @username, to print a t.me link.")
]


def _print_start_link(payload: str, bot_username: str | None) -> None:
    if bot_username is None:
        typer.echo(payload)
        return
    try:
        link = start_link(bot_username, payload)
    except ValueError as error:
        fail(str(error))
    typer.echo(link)


@app.command()
def customer(
    external_id: Annotated[str, typer.Argument(help="The customer's id in the CRM.")],
    source: Annotated[
        str | None, typer.Option(help="The CRM source the id belongs to (when several).")
    ] = None,
    bot_username: BotOption = None,
) -> None:
    """A signed link that ties whoever opens it to this CRM customer (SEGBOT_SECRET_KEY)."""
    if source is not None:
        check_source_name(source)
    settings = settings_or_exit()
    if settings.secret_key is None:
        fail("SEGBOT_SECRET_KEY must be set to sign customer links")
    try:
        payload = customer_payload(
            external_id, secret=settings.secret_key.get_secret_value(), source=source
        )
    except ValueError as error:
        fail(str(error))
    _print_start_link(payload, bot_username)


@app.command()
def utm(
    source: Annotated[str, typer.Option(help="utm_source, e.g. instagram.")],
    medium: Annotated[str | None, typer.Option(help="utm_medium.")] = None,
    campaign: Annotated[str | None, typer.Option(help="utm_campaign.")] = None,
    content: Annotated[str | None, typer.Option(help="utm_content.")] = None,
    referrer: Annotated[str | None, typer.Option(help="Who referred them.")] = None,
    bot_username: BotOption = None,
) -> None:
    """A link whose /start payload carries UTM fields (first touch stays on the subscriber)."""
    try:
        payload = utm_payload(
            source=source, medium=medium, campaign=campaign, content=content, referrer=referrer
        )
    except ValueError as error:
        fail(str(error))
    _print_start_link(payload, bot_username)
