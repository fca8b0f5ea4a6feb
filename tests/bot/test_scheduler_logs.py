"""APScheduler's chatter is DEBUG: `segbot run` at INFO no longer logs every job run, and
a job cancelled by a stop is no error with a traceback; segbot's own job summaries and
APScheduler's real failures still show."""

import asyncio
import logging
from collections.abc import Iterator

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.logs import configure_logging
from core.settings import load_settings


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def run_once(job: object, *, stop_when: asyncio.Event | None = None) -> JobExecutionEvent:
    """Run `job` once on a real AsyncIOScheduler, stopping it as soon as `stop_when` is set
    (while the job runs); the event APScheduler dispatched when it was done with the job,
    its logging included."""
    scheduler = AsyncIOScheduler()
    done: asyncio.Future[JobExecutionEvent] = asyncio.get_running_loop().create_future()
    scheduler.add_listener(done.set_result, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.add_job(job)
    scheduler.start()
    try:
        if stop_when is not None:
            await stop_when.wait()
            scheduler.shutdown(wait=False)
        return await asyncio.wait_for(done, timeout=30)
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)


async def quick_job() -> None:
    logging.getLogger("segments.jobs").info("segments refreshed: 3 segments, 0 failed")


async def failing_job() -> None:
    raise RuntimeError("the CRM is down")


async def test_job_runs_are_not_logged_at_info(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEGBOT_LOG_LEVEL", "INFO")
    configure_logging(load_settings())
    await run_once(quick_job)
    printed = capsys.readouterr().err
    assert "INFO segments.jobs segments refreshed: 3 segments, 0 failed" in printed
    assert "apscheduler" not in printed  # not "Running job", "executed successfully", ...


async def test_at_debug_they_are_there_as_debug_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEGBOT_LOG_LEVEL", "DEBUG")
    configure_logging(load_settings())
    await run_once(quick_job)
    printed = capsys.readouterr().err
    assert "DEBUG apscheduler.executors.default Running job" in printed
    assert "executed successfully" in printed
    assert "INFO apscheduler" not in printed


async def test_a_job_cancelled_by_the_stop_is_no_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEGBOT_LOG_LEVEL", "INFO")
    configure_logging(load_settings())
    started = asyncio.Event()

    async def endless_job() -> None:
        started.set()
        await asyncio.Event().wait()

    event = await run_once(endless_job, stop_when=started)
    assert isinstance(event.exception, asyncio.CancelledError)  # it was cancelled mid-run
    printed = capsys.readouterr().err
    assert "Traceback" not in printed
    assert "CancelledError" not in printed
    assert "ERROR" not in printed


async def test_a_job_that_fails_is_still_an_error_with_its_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEGBOT_LOG_LEVEL", "INFO")
    configure_logging(load_settings())
    await run_once(failing_job)
    printed = capsys.readouterr().err
    assert "ERROR apscheduler.executors.default Job" in printed
    assert "RuntimeError: the CRM is down" in printed
