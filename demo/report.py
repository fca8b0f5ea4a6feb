"""The demo's last act: after its campaign has been sent, some recipients buy in the
sample shop (a new orders export imported through the same CRM sync as the first one),
then the campaign report shows the funnel with those conversions.

Recipients who are shop customers (matched by phone or a customer link) buy: one order
each, and the first also has a refunded order, which the report must not count.
"""

from datetime import datetime
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.campaigns import get_campaign
from broadcasts.models import Delivery, DeliveryStatus, Run
from broadcasts.reports import CampaignReport, campaign_report
from cli.report import print_campaign_report
from core.clock import utcnow
from core.safe_csv import Cell, write_csv
from crm_sync.config import CrmConfig
from crm_sync.connectors import FilesConnector
from crm_sync.models import Customer
from crm_sync.worker import run_sync

SHOP = "shop"  # the connector name of demo/shop.py: the same customers
AMOUNTS = (Decimal("49.90"), Decimal("120.00"), Decimal("35.50"))
REFUND = Decimal("80.00")
ORDER_COLUMNS = ("order_id", "customer_id", "ordered_at", "amount", "currency", "status")


async def buy_and_report(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    campaign: str,
    crm: CrmConfig,
    folder: Path,
    console: Console,
) -> CampaignReport:
    """Orders from the campaign's recipients who are shop customers, imported as a CRM
    export in `folder`; then the campaign's report, printed and returned."""
    async with sessionmaker() as session:
        found = await get_campaign(session, ref=campaign)
        buyers = await _customers_reached(session, found.id)
    now = utcnow()
    orders = folder / "orders-after-campaign.csv"
    _write_orders(orders, buyers, now=now)
    await import_orders(sessionmaker, orders=orders, crm=crm)
    console.print(
        f"{len(buyers)} recipient(s) of {found.name} who are shop customers bought "
        "(one refund among them, which does not count)."
    )
    async with sessionmaker() as session:
        report = await campaign_report(session, campaign_id=found.id, now=utcnow())
    print_campaign_report(console, report)
    return report


async def import_orders(
    sessionmaker: async_sessionmaker[AsyncSession], *, orders: Path, crm: CrmConfig
) -> None:
    """An orders export (ORDER_COLUMNS) of the sample shop's customers, imported through
    the CRM sync as `segbot crm import` would."""
    connector = FilesConnector(name=SHOP, customers=None, orders=orders, rules=crm.rules_for())
    await run_sync(sessionmaker=sessionmaker, connector=connector, trigger="import", full=True)


async def _customers_reached(session: AsyncSession, campaign_id: int) -> list[str]:
    """External ids of the shop customers matched to someone the campaign reached."""
    reached = (
        select(Delivery.subscriber_id)
        .join(Run, Run.id == Delivery.run_id)
        .where(Run.campaign_id == campaign_id, Delivery.status == DeliveryStatus.SENT)
    )
    rows = await session.scalars(
        select(Customer.external_id)
        .where(Customer.source == SHOP, Customer.subscriber_id.in_(reached))
        .order_by(Customer.external_id)
    )
    return list(rows.all())


def _write_orders(path: Path, buyers: list[str], *, now: datetime) -> None:
    rows: list[tuple[Cell, ...]] = [
        (f"AFTER-{number}", buyer, now.isoformat(), AMOUNTS[number % len(AMOUNTS)],
         "EUR", "completed")
        for number, buyer in enumerate(buyers)
    ]  # fmt: skip
    if buyers:
        rows.append(("AFTER-refund", buyers[0], now.isoformat(), REFUND, "EUR", "refunded"))
    write_csv(path, ORDER_COLUMNS, rows)
