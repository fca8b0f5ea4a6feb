"""Raw Bot API calls for the emulator's tests: a JSON body (as segbot's sender posts) or a
multipart form with files, answered as Telegram's `{"ok": ..., ...}` body."""

import json

import aiohttp

from telegram_emulator import JSON, Emulator, JSONObject

USER = 1001
"""The user (and private chat) the emulator fixture registers."""


async def call(
    emu: Emulator,
    method: str,
    params: JSONObject,
    files: dict[str, tuple[str, bytes]] | None = None,
) -> JSONObject:
    """POST `method` with `params` (JSON, or a form when `files` {field: (name, bytes)} are
    sent); the answer's body, with its HTTP status under "status"."""
    url = f"{emu.base_url}/bot42:TEST/{method}"
    async with aiohttp.ClientSession() as http:
        if files is None:
            response = await http.post(url, json=params)
        else:
            form = aiohttp.FormData()
            for name, value in params.items():
                form.add_field(name, value if isinstance(value, str) else json.dumps(value))
            for field, (filename, content) in files.items():
                form.add_field(field, content, filename=filename)
            response = await http.post(url, data=form)
        async with response:
            body = await response.json()
    assert isinstance(body, dict)
    body["status"] = response.status
    return body


def error_of(answer: JSONObject) -> str:
    """The description of a refused call (fails the test if the call was accepted)."""
    assert answer["ok"] is False, answer
    description = answer["description"]
    assert isinstance(description, str)
    return description


def result_of(answer: JSONObject) -> JSONObject:
    """The Message an accepted call answered (fails the test if it was refused)."""
    assert answer["ok"] is True, answer
    result = answer["result"]
    assert isinstance(result, dict)
    return result


def results_of(answer: JSONObject) -> list[JSONObject]:
    """The Messages an accepted sendMediaGroup answered."""
    assert answer["ok"] is True, answer
    result: JSON = answer["result"]
    assert isinstance(result, list)
    return [message for message in result if isinstance(message, dict)]
