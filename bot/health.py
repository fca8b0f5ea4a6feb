"""Operations endpoints: `/healthz` (the process answers), `/readyz` (the database, and
Redis when configured, answer too) and `/metrics` (Prometheus text format).

Gauges that describe shared state (deliveries, send rate, sync runs) are read from the
database at scrape time, so every process reports the same figures for them.
"""

import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.models import Delivery, DeliveryStatus, Run, RunStatus
from core.clock import Clock
from core.metrics import DELIVERIES, REGISTRY, SEND_RATE, SYNC_RUNS
from crm_sync.models import SyncRun

logger = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RATE_WINDOW = timedelta(minutes=1)
_OPEN_RUNS = (RunStatus.SENDING, RunStatus.PAUSED)


class Pingable(Protocol):
    """What readiness needs of a Redis client: redis.asyncio.Redis has it (typed as
    returning an awaitable or a value, as redis-py shares one signature for both)."""

    def ping(self) -> object: ...


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def readiness(sessionmaker: async_sessionmaker[AsyncSession], redis: Pingable | None) -> Handler:
    """`/readyz`: 200 when every backing service answers, else 503 naming what did not."""

    async def readyz(_request: web.Request) -> web.Response:
        checks: dict[str, str] = {}
        try:
            async with sessionmaker() as session:
                await session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as error:  # any failure means "not ready", whatever its kind
            logger.warning("readiness: the database did not answer: %s", type(error).__name__)
            checks["database"] = "unreachable"
        if redis is not None:
            try:
                reply = redis.ping()
                if inspect.isawaitable(reply):
                    await reply
                checks["redis"] = "ok"
            except Exception as error:
                logger.warning("readiness: Redis did not answer: %s", type(error).__name__)
                checks["redis"] = "unreachable"
        ready = all(state == "ok" for state in checks.values())
        return web.json_response(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status=200 if ready else 503,
        )

    return readyz


def metrics(sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> Handler:
    """`/metrics`: this process's counters plus the shared gauges read just now."""

    async def scrape(_request: web.Request) -> web.Response:
        async with sessionmaker() as session:
            await _read_shared_gauges(session, clock)
        return web.Response(
            body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    return scrape


async def _read_shared_gauges(session: AsyncSession, clock: Clock) -> None:
    open_runs = select(Run.id).where(Run.status.in_(_OPEN_RUNS))
    by_status = await session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.run_id.in_(open_runs))
        .group_by(Delivery.status)
    )
    counts = dict(by_status.all())
    for status in DeliveryStatus:
        DELIVERIES.labels(status=status.value).set(counts.get(status, 0))
    sent_lately = await session.scalar(
        select(func.count()).where(
            Delivery.run_id.in_(open_runs), Delivery.sent_at >= clock() - RATE_WINDOW
        )
    )
    SEND_RATE.set((sent_lately or 0) / RATE_WINDOW.total_seconds())
    runs = await session.execute(
        select(SyncRun.connector, SyncRun.status, func.count()).group_by(
            SyncRun.connector, SyncRun.status
        )
    )
    for connector, outcome, count in runs:
        SYNC_RUNS.labels(connector=connector, status=outcome).set(count)
