"""A request counts from when it reached the emulator, not from when the emulator, busy
with other work, got to it."""

import asyncio
import json
import sys
import time

import pytest

from telegram_emulator import Emulator

BUSY_FOR = 0.3  # seconds the emulator's event loop does not run while the request arrives


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel tells when bytes arrived")
async def test_a_request_is_stamped_when_it_arrived_while_the_emulator_was_busy() -> None:
    async with Emulator() as emulator:
        emulator.add_user(1)
        host, port = emulator.base_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        body = json.dumps({"chat_id": 1, "text": "Hi"}).encode()
        head = (
            "POST /bot42:TEST/sendMessage HTTP/1.1\r\n"
            f"Host: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        before = time.monotonic()
        writer.write(head.encode() + body)  # the kernel takes it at once (loopback)
        after = time.monotonic()
        time.sleep(BUSY_FOR)  # noqa: ASYNC251  (the emulator shares this loop: it is kept busy)
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()

    assert answer.startswith(b"HTTP/1.1 200")
    [request] = emulator.requests
    assert request.ok
    assert before - 0.001 <= request.at <= after + 0.001  # not BUSY_FOR later
