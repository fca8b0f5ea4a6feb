"""The `ai` section of segbot.yaml: how AI segments are found, and what a trait means for
the product (pain point, preferred format, tone, best offer). Every key has a default.

```yaml
ai:
  k_min: 3               # k: the most clusters within [k_min, k_max] that replicate
  k_max: 8
  seed: 7                # draws the samples; the same data gives the same k whatever it is
  sample_size: 20000     # clusters are fitted on this many subscribers; everyone is assigned
  window_days: 90        # engagement rates and active hours are measured over this window
  product: "running shoes and gear"   # what the shop sells: context for the language model
  traits:                # merged over the shipped ones (DEFAULT_TRAITS); see below
    "tag:interest:deals": {pain_point: "Waits for a sale", format: carousel, offer: "-15%"}
    "country:ES": {tone: "warm, informal (tú)"}
```

A trait is what distinguishes a cluster from the whole audience, named by a key:
`lang:X gender:X age_band:X income:X education:X country:X city:X stage:NAME` (the most
common value), `tag:TAG` (a subscriber tag, e.g. from the quiz), `clicked:TAG` (a tracked
link's tag), and `FEATURE:high` / `FEATURE:low` for `reads clicks replies reactions presses
recency frequency monetary buyer tenure age night morning afternoon evening`.
"""

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.config import ConfigSections, validated
from segments.models import ContentFormat

Text = Annotated[str, Field(min_length=1, max_length=300)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TraitHint(_Strict):
    """What one trait says about the people who have it; any field may be left out."""

    pain_point: Text | None = None
    format: ContentFormat | None = None
    tone: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    offer: Text | None = None


# Shipped meanings for the default quiz's tags, the ladder, and the behaviour traits.
DEFAULT_TRAITS: dict[str, TraitHint] = {
    "tag:interest:deals": TraitHint(
        pain_point="worries about overpaying and waits for a discount",
        format=ContentFormat.CAROUSEL,
        tone="casual",
        offer="a time-limited discount",
    ),
    "tag:interest:news": TraitHint(
        pain_point="afraid of missing what is new",
        format=ContentFormat.SHORT_VIDEO,
        offer="early access to new products",
    ),
    "tag:interest:guides": TraitHint(
        pain_point="not sure how to get the most out of the product",
        format=ContentFormat.TEXT,
        tone="helpful, expert",
        offer="a free step-by-step guide",
    ),
    "tag:interest:events": TraitHint(
        pain_point="wants to see the product live and meet other customers",
        format=ContentFormat.LIVE,
        offer="an invitation to the next event",
    ),
    "tag:format:video": TraitHint(format=ContentFormat.SHORT_VIDEO),
    "tag:format:visual": TraitHint(format=ContentFormat.CAROUSEL),
    "tag:format:text": TraitHint(format=ContentFormat.TEXT),
    "clicked:pricing": TraitHint(
        pain_point="unsure whether the price is worth it", offer="a payment plan or a bundle"
    ),
    "clicked:deals": TraitHint(
        pain_point="buys only when the price is right", offer="a time-limited discount"
    ),
    "clicked:problem": TraitHint(pain_point="has a problem and is looking for a way out"),
    "stage:unaware": TraitHint(
        pain_point="does not yet feel the problem the product solves",
        tone="light, story-telling",
        offer="a short story that shows the problem",
    ),
    "stage:problem_aware": TraitHint(
        pain_point="feels the problem but does not know the ways to solve it",
        offer="a free guide to the options",
    ),
    "stage:solution_aware": TraitHint(
        pain_point="compares solutions and cannot tell which one fits",
        offer="a comparison or a customer case study",
    ),
    "stage:product_aware": TraitHint(
        pain_point="knows the product but doubts it is right for them",
        offer="a trial, a demo or a money-back guarantee",
    ),
    "stage:most_aware": TraitHint(
        pain_point="ready to buy and needs a reason to do it now", offer="a time-limited deal"
    ),
    "buyer:high": TraitHint(
        pain_point="wants more value from what they already bought",
        offer="a loyalty reward or a complementary product",
    ),
    "recency:low": TraitHint(
        pain_point="drifted away since the last purchase", offer="a win-back offer"
    ),
    "monetary:high": TraitHint(tone="personal, premium", offer="VIP early access"),
    "clicks:low": TraitHint(
        pain_point="gets messages that do not feel relevant to them",
        format=ContentFormat.SHORT_VIDEO,
    ),
    "replies:high": TraitHint(format=ContentFormat.LIVE, tone="conversational"),
    "age_band:under_25": TraitHint(tone="casual", format=ContentFormat.SHORT_VIDEO),
    "age_band:45_plus": TraitHint(tone="formal"),
    "income:high": TraitHint(tone="formal", offer="a premium package"),
}
DEFAULT_PAIN_POINT = "needs a clear reason to pay attention to the product"
DEFAULT_FORMAT = ContentFormat.TEXT
DEFAULT_TONE = "friendly"
DEFAULT_OFFER = "a useful free resource"


MAX_K = 50  # clusters: each k tried costs k-means runs, so k-max is bounded


class AiConfig(_Strict):
    k_min: Annotated[int, Field(ge=2, le=MAX_K)] = 3
    k_max: Annotated[int, Field(ge=2, le=MAX_K)] = 8
    seed: Annotated[int, Field(ge=0)] = 7
    sample_size: Annotated[int, Field(ge=100, le=1_000_000)] = 20_000
    window_days: Annotated[int, Field(gt=0, le=3650)] = 90
    product: Annotated[str, Field(max_length=300)] = "the shop's products"
    traits: dict[Annotated[str, Field(min_length=3, max_length=140)], TraitHint] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.k_min > self.k_max:
            raise ValueError("k_min must not exceed k_max")
        return self

    def hint(self, trait: str) -> TraitHint | None:
        """The configured meaning of `trait`, else the shipped one, else None."""
        return self.traits.get(trait) or DEFAULT_TRAITS.get(trait)


def load_ai_config(sections: ConfigSections) -> AiConfig:
    """The validated `ai` section (defaults where absent); a mistake is one ConfigError."""
    return validated(AiConfig, sections.get("ai") or {}, "ai")
