"""A local stand-in for an OpenAI-compatible server: POST /v1/chat/completions answers
with a numbered reply, an HTTP error, or too late, as the test sets `mode`."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class FakeModel:
    mode: str = "ok"  # ok, error, slow or garbage
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[str | None] = field(default_factory=list)
    base_url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(request.headers.get("Authorization"))
        if self.mode == "error":
            return web.json_response({"error": {"message": "overloaded"}}, status=500)
        if self.mode == "slow":
            await asyncio.sleep(1)
        if self.mode == "garbage":
            return web.Response(text="<html>not json</html>")
        prompt = body["messages"][-1]["content"]
        if prompt.startswith("Rewrite"):
            message = prompt.split("Message:\n", 1)[1]
            content = f"[{body['model']}] {message}"
        else:
            content = f'"Persona number {len(self.requests)}"'
        return web.json_response(
            {"choices": [{"message": {"role": "assistant", "content": content}}]}
        )


@asynccontextmanager
async def fake_model(mode: str = "ok") -> AsyncIterator[FakeModel]:
    fake = FakeModel(mode)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.handle)
    server = TestServer(app)
    await server.start_server()
    fake.base_url = str(server.make_url("/v1"))
    try:
        yield fake
    finally:
        await server.close()
