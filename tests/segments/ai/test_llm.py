"""The optional language model, against a local fake OpenAI-compatible server: names and
rewrites when it answers; statistics when it fails; a specific error without one."""

import logging

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from segments.ai.config import AiConfig
from segments.ai.generate import generate_ai_segments
from segments.ai.llm import LanguageModel, LanguageModelError, ModelRequiredError
from segments.ai.personas import persona_from_segment
from segments.ai.writing import rewrite_for_personas
from tests.segments.ai.fake_llm import fake_model
from tests.segments.ai.planted import NOW, plant

CONFIG = AiConfig(k_min=3, k_max=3)
KEY = "sk-test-secret-key"


async def test_names_narratives_and_rewrites_come_from_the_model(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    await plant(session, per_group=20)
    async with fake_model() as fake:
        model = LanguageModel(fake.base_url, "tiny", SecretStr(KEY))
        result = await generate_ai_segments(sessionmaker, now=NOW, config=CONFIG, model=model)
        assert result.named_by_model
        assert all(p.name.startswith(f"AI {p.number}: Persona number ") for p in result.profiles)
        persona = await persona_from_segment(
            session, segment=result.profiles[0].name, now=NOW, model=model
        )
        assert persona.narrative is not None
        variants = await rewrite_for_personas(
            model, message="Spring sale: https://shop.example/s", personas=[persona],
            product="shoes",
        )  # fmt: skip
    assert variants == {persona.name: "[tiny] Spring sale: https://shop.example/s"}
    assert set(fake.headers) == {f"Bearer {KEY}"}
    assert KEY not in caplog.text


@pytest.mark.parametrize("mode", ["error", "slow", "garbage"])
async def test_a_failing_model_falls_back_to_the_statistics(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, mode: str
) -> None:
    await plant(session, per_group=20)
    async with fake_model(mode) as fake:
        model = LanguageModel(fake.base_url, "tiny", timeout=0.5)
        result = await generate_ai_segments(sessionmaker, now=NOW, config=CONFIG, model=model)
        assert not result.named_by_model
        assert fake.requests  # it was asked
        with pytest.raises(LanguageModelError):
            await model.chat([{"role": "user", "content": "hi"}])


async def test_rewriting_needs_a_model(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ModelRequiredError, match="SEGBOT_LLM_BASE_URL"):
        await rewrite_for_personas(None, message="hi", personas=[], product="shoes")
