"""Download links for the reports' CSV files.

A download is a plain GET the browser (or, inside Telegram, the Telegram app itself, asked
by `WebApp.downloadFile`) makes without the console's credential header, so the link
carries its own: a token signed with SEGBOT_SECRET_KEY for one file (what and which) and
one admin, valid for LIFETIME. The report page, an authenticated request, issues it; the
download path is open (bot.console.app.OPEN_PATHS) and checks the token, and then the
admin's role again, as it stands at download time.
"""

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.console.identity import sign, unsign

LIFETIME = timedelta(minutes=15)
PURPOSE = "console-download"
DOWNLOAD_PATH = "/console/reports/download/"


class DownloadKind(enum.StrEnum):
    FUNNEL = "funnel"  # a campaign's funnel, as `segbot report campaign --csv`
    RESULTS = "results"  # its lift and A/B results, as `--results-csv`
    JOURNEY = "journey"  # a journey's steps, as `segbot report journey --csv`


class DownloadError(Exception):
    """The token is forged or has expired (the message says which)."""


@dataclass(frozen=True, slots=True)
class Download:
    kind: DownloadKind
    ref: str  # the campaign's id or the journey's name
    admin_user_id: int


def download_url(download: Download, *, secret: str, now: datetime) -> str:
    """The path of a link to `download`, valid for LIFETIME from `now`."""
    if ":" in download.ref:
        raise ValueError(f"a download names no ref with ':', got {download.ref!r}")
    expires = int((now + LIFETIME).timestamp())
    value = f"{download.kind}:{download.ref}:{download.admin_user_id}:{expires}"
    return DOWNLOAD_PATH + sign(value, secret=secret, purpose=PURPOSE)


def read_download(token: str, *, secret: str, now: datetime) -> Download:
    """The download a token of `download_url` stands for; DownloadError when it was not
    signed here (or was changed) or has expired."""
    value = unsign(token, secret=secret, purpose=PURPOSE)
    if value is None:
        raise DownloadError("not a download link of this console")
    kind, ref, admin_user_id, expires = value.split(":")
    if int(expires) < now.timestamp():
        raise DownloadError("the download link has expired: open the report again")
    return Download(DownloadKind(kind), ref, int(admin_user_id))
