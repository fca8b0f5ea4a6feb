"""The `segbot` command line: a thin root that knows each command's name and summary and
imports a command's module only when that command runs, so `segbot --help` and
`segbot version` answer at once (cli/lazy_group.py).

A new command group is one line in COMMANDS: its name, its module's Typer app (or a
command function) and the summary its own help starts with.
"""

import typer

from cli.lazy_group import Deferred, DeferredGroup

COMMANDS = (
    Deferred(
        "run",
        "cli.run:run",
        "Run the bot, the broadcast sender, the scheduler and the web server (or one --role "
        "of them) until SIGINT/SIGTERM.",
    ),
    Deferred("demo", "cli.run:demo", "Rehearse segbot without Telegram (needs no token)."),
    Deferred(
        "export",
        "cli.export:export",
        "A segment's members as CSV: Telegram ids, or hashed contacts for ad platforms' "
        "custom audiences (columns email and phone, SHA-256 of the normalised values).",
    ),
    Deferred("version", "cli.app:version", "Print segbot's version."),
    Deferred("db", "cli.database:app", "Database schema: apply and inspect migrations."),
    Deferred("links", "cli.links:app", "Deep links that open the bot with a source."),
    Deferred(
        "crm",
        "cli.crm:app",
        "CRM customers and orders: import files, sync connectors, match rates.",
    ),
    Deferred(
        "campaign",
        "cli.campaign:app",
        "Campaigns: create from YAML, list, show, clone, preview, test-send, send, pause, "
        "cancel; list and resend a run's unknown deliveries.",
    ),
    Deferred(
        "segments",
        "cli.segments:app",
        "Saved segments: list, show, count, save, explain, refresh; AI segments: "
        "generate, lookalike.",
    ),
    Deferred(
        "journey",
        "cli.journey:app",
        "Journeys: message sequences a trigger starts; create from YAML (again: a new "
        "version), list, show, pause, resume, archive, enroll a segment, simulate one "
        "subscriber.",
    ),
    Deferred(
        "rfm",
        "cli.segments:rfm_app",
        "RFM scores per segment. Without --as-of: rescore now and store the scores.",
    ),
    Deferred(
        "ladder",
        "cli.segments:ladder_app",
        "Subscribers (and buyers among them) on each stage of the ladder of awareness.",
    ),
    Deferred(
        "personas",
        "cli.personas:app",
        "Personas: actionable profiles a campaign can target (up to 5).",
    ),
    Deferred(
        "report",
        "cli.report:app",
        "Reports: a campaign's funnel and conversions; audience and segment trends.",
    ),
    Deferred("subscribers", "cli.subscribers:app", "Subscribers: find them, show one in full."),
    Deferred(
        "emulator",
        "cli.emulator:emulator",
        "Start the Telegram Bot API emulator, to rehearse the bot without Telegram.",
    ),
    Deferred(
        "rehearse",
        "cli.rehearse:rehearse",
        "Rehearse a campaign on people of your own, in the Bot API emulator, on a throwaway "
        "copy of the database: what each person would get, or why nothing.",
    ),
)


class SegbotCommands(DeferredGroup):
    deferred = COMMANDS


app = typer.Typer(cls=SegbotCommands, no_args_is_help=True, add_completion=False)


@app.callback()
def segbot() -> None:
    """segbot: a Telegram marketing bot with in-chat audience segmentation."""


def version() -> None:
    """Print segbot's version."""
    from importlib.metadata import version as package_version

    typer.echo(f"segbot {package_version('segbot')}")


def main() -> None:
    app()
