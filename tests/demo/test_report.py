"""The demo's shop orders after a campaign go through the CRM import and into the report."""

from pathlib import Path

from rich.console import Console
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import parse_app_config
from crm_sync.models import Order
from demo.report import buy_and_report
from tests.broadcasts.reports.scenario import build


async def test_recipients_who_are_customers_buy_and_the_report_is_printed(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await build(session)
    console = Console(record=True, width=250)
    crm = parse_app_config({"crm": {"default_region": "ES"}}).crm
    report = await buy_and_report(
        sessionmaker, campaign="spring", crm=crm, folder=tmp_path, console=console
    )
    imported = await session.execute(
        select(Order.external_id, Order.counts_as_purchase)
        .where(Order.external_id.like("AFTER-%"))
        .order_by(Order.external_id)
    )
    # Sent to s1, s2, s3, s5, s6 and s11; customers C1, C2, C5 and C6 are among them.
    assert imported.all() == [
        ("AFTER-0", True), ("AFTER-1", True), ("AFTER-2", True), ("AFTER-3", True),
        ("AFTER-refund", False),
    ]  # fmt: skip
    output = console.export_text()
    assert "4 recipient(s) of spring who are shop customers bought" in output
    assert "Funnel" in output
    assert report.campaign == "spring"
