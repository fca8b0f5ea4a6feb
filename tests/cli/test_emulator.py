"""`segbot emulator` as a user runs it: its how-to works as printed, its options reach the
emulator, Ctrl-C stops it cleanly, and a taken port is one line."""

import asyncio
import re
import shlex
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from telegram_emulator import EmulatorClient
from tests.ports import free_port

SEGBOT = str(Path(sys.executable).parent / "segbot")
STARTED = b"(control API: "  # in the line the emulator prints once it listens


def _ignore_ctrl_c() -> None:
    """As a shell does for a background job (`segbot emulator &` in a script)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


async def serving(
    *args: str, in_background: bool = False
) -> tuple[asyncio.subprocess.Process, str]:
    """`segbot emulator ARGS`, once it listens, and what it printed until then."""
    process = await asyncio.create_subprocess_exec(
        SEGBOT,
        "emulator",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": ""},
        preexec_fn=_ignore_ctrl_c if in_background else None,
    )
    assert process.stdout is not None
    printed = b""
    async with asyncio.timeout(60):
        while STARTED not in printed:
            line = await process.stdout.readline()
            assert line, f"segbot emulator stopped: {printed.decode()}"
            printed += line
    return process, printed.decode()


async def stopped(
    process: asyncio.subprocess.Process, how: signal.Signals = signal.SIGINT
) -> bytes:
    """Ctrl-C (or `how`); what it said on stderr."""
    process.send_signal(how)
    _, stderr = await process.communicate()
    return stderr


async def test_the_how_to_works_as_printed() -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process, how_to = await serving("--port", str(port), "--rate", "7")
    try:
        assert f"SEGBOT_TELEGRAM_API_BASE={base_url} " in how_to
        assert "7 messages/s" in how_to
        assert "segbot rehearse CAMPAIGN --subscribers" in how_to
        calls = [shlex.split(line) for line in how_to.splitlines() if line.startswith("  curl ")]
        assert len(calls) == 3
        async with aiohttp.ClientSession() as http:
            for call in calls:  # curl [-X POST] URL [-d BODY] [# comment]
                method = call[call.index("-X") + 1] if "-X" in call else "GET"
                url = next(word for word in call if word.startswith("http"))
                body = call[call.index("-d") + 1] if "-d" in call else None
                async with http.request(method, url, data=body) as response:
                    assert (await response.json())["ok"] is True, url
            async with http.get(f"{base_url}/bot1:rehearsal/getMe") as response:
                assert (await response.json())["result"]["is_bot"] is True
        async with EmulatorClient(base_url) as client:
            assert (await client.limits())["global_per_second"] == 7
            [start] = [u["message"] for u in await client.updates_pending() if "message" in u]
            assert isinstance(start, dict)
            assert start["text"] == "/start"  # the how-to's user said it
    finally:
        stderr = await stopped(process)
    assert process.returncode == 0
    assert b"Traceback" not in stderr


async def test_no_limits_reaches_the_emulator() -> None:
    port = free_port()
    process, how_to = await serving("--port", str(port), "--no-limits")
    try:
        assert "limits: none (--no-limits)" in how_to
        async with EmulatorClient(f"http://127.0.0.1:{port}") as client:
            assert (await client.limits())["enabled"] is False
    finally:
        await stopped(process)
    assert process.returncode == 0


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
async def test_a_background_job_stops_cleanly_on_ctrl_c_or_sigterm(how: signal.Signals) -> None:
    process, _ = await serving("--port", str(free_port()), in_background=True)
    try:
        async with asyncio.timeout(60):  # a hang guard: it used to ignore Ctrl-C here
            stderr = await stopped(process, how)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    assert b"Traceback" not in stderr


async def test_a_taken_port_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            SEGBOT,
            "emulator",
            "--port",
            str(port),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={"PATH": ""},
        )
        _, stderr = await process.communicate()
    assert process.returncode == 1
    assert re.fullmatch(
        rf"error: cannot listen on 127\.0\.0\.1:{port} \(.*\): choose another --port\n",
        stderr.decode(),
    )
