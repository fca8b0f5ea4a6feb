"""The operations endpoints over HTTP: liveness, readiness and Prometheus metrics."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.health import Pingable
from bot.web_server import create_web_app
from broadcasts.models import Delivery, DeliveryStatus
from broadcasts.planner import plan_run
from core.db import create_engine, create_sessionmaker
from crm_sync.models import SyncRun
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from


class DeadRedis:
    async def ping(self) -> object:
        raise ConnectionError("connection refused")


class LiveRedis:
    async def ping(self) -> object:
        return True


@asynccontextmanager
async def served(
    sessionmaker: async_sessionmaker[AsyncSession], redis: Pingable | None = None
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = create_web_app(sessionmaker=sessionmaker, secret="s", clock=lambda: NOW, redis=redis)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_liveness_and_readiness(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with served(sessionmaker, LiveRedis()) as client:
        assert (await client.get("/healthz")).status == 200
        ready = await client.get("/readyz")
        assert ready.status == 200
        assert await ready.json() == {
            "status": "ready",
            "checks": {"database": "ok", "redis": "ok"},
        }


async def test_not_ready_names_what_is_down(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    async with served(sessionmaker, DeadRedis()) as client:
        answer = await client.get("/readyz")
        assert answer.status == 503
        assert (await answer.json())["checks"] == {"database": "ok", "redis": "unreachable"}

    nowhere = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}")
    try:
        async with served(create_sessionmaker(nowhere)) as client:
            answer = await client.get("/readyz")
            assert answer.status == 503
            assert (await answer.json())["checks"] == {"database": "unreachable"}
            assert (await client.get("/healthz")).status == 200  # alive, just not ready
    finally:
        await nowhere.dispose()


async def test_metrics_report_open_deliveries_send_rate_and_sync_runs(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        await add_subscribers(session, 4)
        campaign = await campaign_from(session, "name: m\ndefault: {text: Hello}\n")
        plan = await plan_run(session, campaign=campaign, now=NOW)
        first_two = await session.scalars(
            select(Delivery.id).where(Delivery.run_id == plan.run.id).order_by(Delivery.id).limit(2)
        )
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(first_two.all()))
            .values(status=DeliveryStatus.SENT, sent_at=NOW - timedelta(seconds=10))
        )
        session.add(
            SyncRun(
                connector="shop",
                trigger="manual",
                status="succeeded",
                started_at=NOW,
                heartbeat_at=NOW,
            )
        )
        await session.commit()

    async with served(sessionmaker) as client:
        answer = await client.get("/metrics")
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        lines = set((await answer.text()).splitlines())
    assert 'segbot_deliveries{status="queued"} 2.0' in lines
    assert 'segbot_deliveries{status="sent"} 2.0' in lines
    assert "segbot_send_rate " + repr(2 / 60) in lines
    assert 'segbot_sync_runs{connector="shop",status="succeeded"} 1.0' in lines
    assert any(line.startswith("segbot_updates_handled_total ") for line in lines)
