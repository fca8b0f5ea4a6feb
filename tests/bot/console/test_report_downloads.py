"""The reports' download links: one file, one admin, a few minutes; anything else is
refused."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.console.report_downloads import (
    DOWNLOAD_PATH,
    LIFETIME,
    Download,
    DownloadError,
    DownloadKind,
    download_url,
    read_download,
)

SECRET = "test-secret"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
FUNNEL = Download(DownloadKind.FUNNEL, "12", 7004)


def token_of(download: Download, *, now: datetime = NOW, secret: str = SECRET) -> str:
    return download_url(download, secret=secret, now=now).removeprefix(DOWNLOAD_PATH)


@pytest.mark.parametrize(
    "download",
    [
        FUNNEL,
        Download(DownloadKind.RESULTS, "12", 1),
        Download(DownloadKind.JOURNEY, "we.l-c_0", 2),
    ],
)
def test_a_link_names_its_file_and_admin_until_it_expires(download: Download) -> None:
    url = download_url(download, secret=SECRET, now=NOW)
    assert url.startswith(DOWNLOAD_PATH)
    token = url.removeprefix(DOWNLOAD_PATH)
    assert "/" not in token
    assert read_download(token, secret=SECRET, now=NOW + LIFETIME) == download
    with pytest.raises(DownloadError, match="expired"):
        read_download(token, secret=SECRET, now=NOW + LIFETIME + timedelta(seconds=1))


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token.replace(":7004:", ":7001:"),  # another admin
        lambda token: token.replace("funnel:", "results:"),  # another file
        lambda token: token.replace(":12:", ":13:"),  # another campaign
        lambda token: token[:-1] + ("0" if token[-1] != "0" else "1"),  # another signature
        lambda token: token.rpartition(".")[0],  # no signature
        lambda token: token_of(FUNNEL, secret="another-deployment"),
    ],
    ids=["admin", "kind", "campaign", "signature", "unsigned", "secret"],
)
def test_a_changed_or_foreign_link_is_refused(forge: Callable[[str], str]) -> None:
    with pytest.raises(DownloadError, match="not a download link"):
        read_download(forge(token_of(FUNNEL)), secret=SECRET, now=NOW)


def test_a_ref_that_would_change_the_token_s_fields_is_refused() -> None:
    with pytest.raises(ValueError, match="':'"):
        download_url(Download(DownloadKind.JOURNEY, "a:1", 1), secret=SECRET, now=NOW)
