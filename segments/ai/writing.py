"""What the optional language model writes: segment names, persona narratives, and one
message rewritten for each persona. Prompts carry aggregate profiles and the marketer's
own text only, never a subscriber's data.

Names and narratives fall back to the statistics when the model fails (the caller gets
None); a rewrite has nothing to fall back to, so it raises: `ModelRequiredError` without
a model, `LanguageModelError` when the model fails.
"""

import re
from collections.abc import Mapping, Sequence

from segments.ai.llm import LanguageModel, LanguageModelError, Message, ModelRequiredError, ask_all
from segments.ai.profiles import NAME_MAJORITY, Profile
from segments.models import Persona

MAX_MODEL_NAME = 40
MAX_NARRATIVE = 1200
_NAME_NOISE = re.compile(r"^[\s\"'*#:.-]+|[\s\"'*#:.-]+$")
_URL = re.compile(r"https?://\S+")


def _system(product: str) -> Message:
    return {
        "role": "system",
        "content": f"You help a marketer who sells {product} through a Telegram bot. "
        "Answer briefly and with the requested text only.",
    }


def profile_summary(profile: Profile) -> str:
    """What a name may rest on: the traits at least NAME_MAJORITY of the members share."""
    common = profile.held_by_most
    lines = [f"{profile.share:.0%} of the audience; most common ladder stage: {profile.stage}"]
    if common:
        lines.append(f"What at least {NAME_MAJORITY:.0%} of them share:")
        lines += [f"- {trait.text}" for trait in common[:8]]
    else:
        lines.append(f"No trait is shared by {NAME_MAJORITY:.0%} of them: a mixed group.")
    lines.append(f"Pain points: {'; '.join(profile.pain_points)}")
    return "\n".join(lines)


async def model_names(
    model: LanguageModel, profiles: Sequence[Profile], *, product: str
) -> list[str] | None:
    """A short name (at most 40 characters) per profile, or None when the model failed."""
    conversations: list[list[Message]] = [
        [
            _system(product),
            {
                "role": "user",
                "content": "Name this audience segment in two to four words, like a "
                "marketing persona, after what most of its members share (no quotes, no "
                "numbering):\n" + profile_summary(profile),
            },
        ]
        for profile in profiles
    ]
    try:
        replies = await ask_all(model, conversations)
    except LanguageModelError:
        return None
    names = [
        _NAME_NOISE.sub("", reply.splitlines()[0])[:MAX_MODEL_NAME].strip() for reply in replies
    ]
    if not all(name.isprintable() and name for name in names) or len(set(names)) < len(names):
        return None
    return names


async def narrative(model: LanguageModel, persona: Persona, *, product: str) -> str | None:
    """Three or four sentences that bring the persona to life, or None when the model failed."""
    ask = "Write a 3-4 sentence persona narrative for:\n" + persona_summary(persona)
    try:
        reply = await model.chat(
            [_system(product), {"role": "user", "content": ask}], temperature=0.3
        )
    except LanguageModelError:
        return None
    return reply[:MAX_NARRATIVE]


def persona_summary(persona: Persona) -> str:
    return "\n".join(
        [
            f"Persona: {persona.name}",
            f"Main problem: {persona.main_problem}",
            f"Preferred format: {persona.preferred_format.value.replace('_', ' ')}",
            f"Tone: {persona.tone}",
            f"Best offer: {persona.best_offer}",
            f"Example customer: {persona.example_customer}",
        ]
    )


async def rewrite_for_personas(
    model: LanguageModel | None, *, message: str, personas: Sequence[Persona], product: str
) -> dict[str, str]:
    """`message` rewritten for each persona's problem and tone, by persona name. Links
    must survive the rewrite: a variant that drops one is an error, not a silent change."""
    if model is None:
        raise ModelRequiredError(
            "rewriting a message for each persona needs a language model: set "
            "SEGBOT_LLM_BASE_URL and SEGBOT_LLM_MODEL (and SEGBOT_LLM_API_KEY if it wants one)"
        )
    conversations: list[list[Message]] = [
        [
            _system(product),
            {
                "role": "user",
                "content": "Rewrite this Telegram broadcast for the persona below. Keep its "
                "meaning, its length, every link and every {placeholder} exactly; adapt "
                "the wording to the persona's problem and tone.\n\n"
                f"{persona_summary(persona)}\n\nMessage:\n{message}",
            },
        ]
        for persona in personas
    ]
    replies = await ask_all(model, conversations)
    variants = dict(zip((persona.name for persona in personas), replies, strict=True))
    _check_links(message, variants)
    return variants


def _check_links(message: str, variants: Mapping[str, str]) -> None:
    for name, text in variants.items():
        lost = [url for url in _URL.findall(message) if url not in text]
        if lost:
            raise LanguageModelError(f"the rewrite for {name} dropped the link {lost[0]}")
