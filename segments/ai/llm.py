"""An OpenAI-compatible chat completions client over aiohttp, for an optional language model.

`SEGBOT_LLM_BASE_URL` is the API base that ends before `/chat/completions` (OpenAI:
https://api.openai.com/v1; Ollama: http://127.0.0.1:11434/v1; llama.cpp and vLLM alike),
`SEGBOT_LLM_MODEL` the model name, `SEGBOT_LLM_API_KEY` the bearer token when the server
wants one. Every failure (unreachable, an error status, a timeout, a reply without text)
is a `LanguageModelError` whose message names the kind of failure only: never the key,
the prompt or the reply, which may describe the audience.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import aiohttp
from pydantic import SecretStr

from core.errors import SegbotError
from core.settings import Settings

DEFAULT_TIMEOUT = 30.0


class LanguageModelError(SegbotError):
    """The language model gave no usable answer; callers fall back to the statistics."""


class ModelRequiredError(SegbotError):
    """The feature needs a language model and none is configured."""


class Message(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class LanguageModel:
    base_url: str
    model: str
    api_key: SecretStr | None = None
    timeout: float = DEFAULT_TIMEOUT  # seconds for the whole request

    async def chat(
        self, messages: Sequence[Message], *, max_tokens: int = 300, temperature: float = 0.0
    ) -> str:
        """The assistant's reply to `messages`, stripped; LanguageModelError otherwise."""
        headers = {"Accept": "application/json"}
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        body = {
            "model": self.model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.post(f"{self.base_url}/chat/completions", json=body, headers=headers) as reply,
            ):
                if reply.status != 200:
                    raise LanguageModelError(f"the language model answered HTTP {reply.status}")
                data = await reply.json(content_type=None)
        except TimeoutError:
            raise LanguageModelError(
                f"the language model did not answer within {self.timeout:g} s"
            ) from None
        except aiohttp.ClientError as error:
            raise LanguageModelError(
                f"cannot reach the language model ({type(error).__name__})"
            ) from None
        except ValueError:
            raise LanguageModelError("the language model's reply is not JSON") from None
        return _content(data)


def _content(data: Any) -> str:
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LanguageModelError("the language model's reply has no message") from None
    if not isinstance(content, str) or not content.strip():
        raise LanguageModelError("the language model's reply is empty")
    return content.strip()


def language_model(settings: Settings, *, timeout: float = DEFAULT_TIMEOUT) -> LanguageModel | None:
    """The configured model, or None when SEGBOT_LLM_BASE_URL or SEGBOT_LLM_MODEL is unset."""
    if settings.llm_base_url is None or settings.llm_model is None:
        return None
    return LanguageModel(settings.llm_base_url, settings.llm_model, settings.llm_api_key, timeout)


async def ask_all(model: LanguageModel, conversations: Sequence[Sequence[Message]]) -> list[str]:
    """Every conversation's reply, asked concurrently; the first failure is raised."""
    return list(await asyncio.gather(*(model.chat(messages) for messages in conversations)))
