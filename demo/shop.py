"""The demo's sample shop: a CRM export written as CSV files, imported with the real sync
worker, matched to the simulated subscribers, then scored and segmented.

The export is generated, deterministic and small: 60 customers with two years of orders,
some refunds, and one broken row (kept with its reason, as the CRM issue promises). Three
customers are demo subscribers: two share a phone number with a subscriber, one opened
the bot through a signed customer link.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cli.tables import crm_status_table, ladder_table, membership_table, rfm_summary_table
from core.clock import utcnow
from core.safe_csv import Cell, write_csv
from crm_sync.config import CrmConfig
from crm_sync.connectors import FilesConnector
from crm_sync.reports import crm_status
from crm_sync.worker import run_sync
from segments.config import SegmentsConfig
from segments.jobs import refresh_all
from segments.ladder import ladder
from segments.rfm.store import rfm_table
from segments.saved import save_segment

LINKED_CUSTOMER = "C-1003"  # the demo's signed customer link names this one
KNOWN_PHONES = {"C-1001": "+34 600 111 222", "C-1005": "+1 415-555-0100"}
CUSTOMERS = 60
SEGMENTS = {
    "buyers": "buyer",
    "spanish_speakers": "lang = es",
    "deal_seekers": "interest:deals",
    "best_customers": "rfm in (champions, loyal, potential_loyalists)",
    "ready_to_buy": "stage >= product_aware",
    "lapsed_buyers": "buyer and not last_purchase within 180d",
}


@dataclass(frozen=True, slots=True)
class ShopExport:
    customers: Path
    orders: Path


def write_export(folder: Path, *, now: datetime, seed: int = 7) -> ShopExport:
    """The shop's customers.csv and orders.csv, in the default column names."""
    rng = random.Random(seed)  # noqa: S311  (sample data, not security)
    customers: list[tuple[Cell, ...]] = []
    orders: list[tuple[Cell, ...]] = []
    for number in range(1, CUSTOMERS + 1):
        external_id = f"C-{1000 + number}"
        phone = KNOWN_PHONES.get(external_id, f"+34 611 {number:03d} {rng.randint(100, 999)}")
        customers.append((external_id, f"Customer {number}", phone, f"c{number}@shop.example"))
        loyalty = rng.choice((0, 1, 1, 2, 3, 6, 12))
        first = now - timedelta(days=rng.randint(30, 730))
        for count in range(loyalty):
            ordered_at = first + (now - first) * (count + rng.random()) / max(loyalty, 1)
            status = "refunded" if rng.random() < 0.05 else "completed"
            amount = Decimal(f"{rng.gammavariate(2.0, 30.0):.2f}")
            order_id = f"O-{number}-{count}"
            orders.append((order_id, external_id, ordered_at.isoformat(), amount, "EUR", status))
    orders.append(("O-broken", "C-1001", "yesterday-ish", Decimal("12.50"), "EUR", "completed"))
    export = ShopExport(folder / "customers.csv", folder / "orders.csv")
    write_csv(export.customers, ("customer_id", "name", "phone", "email"), customers)
    write_csv(
        export.orders,
        ("order_id", "customer_id", "ordered_at", "amount", "currency", "status"),
        orders,
    )
    return export


async def import_export(
    sessionmaker: async_sessionmaker[AsyncSession],
    export: ShopExport,
    crm: CrmConfig,
    console: Console,
) -> None:
    """Import the export as `segbot crm import` would (before the subscribers arrive, as a
    shop's CRM is synced before it hands out customer links)."""
    connector = FilesConnector(
        name="shop", customers=export.customers, orders=export.orders, rules=crm.rules_for()
    )
    summary = await run_sync(
        sessionmaker=sessionmaker, connector=connector, trigger="import", full=True
    )
    console.print(
        f"Imported the sample shop: {summary.total('inserted')} rows stored, "
        f"{summary.total('rejected')} rejected with a reason (on your own database, segbot crm "
        "rejected lists them)."
    )


async def segment(
    sessionmaker: async_sessionmaker[AsyncSession], config: SegmentsConfig, console: Console
) -> None:
    """Match rates, then save a few segments, refresh everything and show the results."""
    async with sessionmaker() as session:
        console.print("CRM matches", crm_status_table(await crm_status(session)))
        for name, rule in SEGMENTS.items():
            await save_segment(session, name=name, rule_text=rule, now=utcnow())
    everything = await refresh_all(sessionmaker, config=config)
    async with sessionmaker() as session:
        scores = await rfm_table(session)
        stages = await ladder(session)
    names: Sequence[str] = config.rfm.segment_map().names
    console.print(f"RFM of {len(scores)} customers", rfm_summary_table(scores, names))
    console.print("Ladder of awareness", ladder_table(stages))
    console.print("Saved segments", membership_table(everything.memberships))
