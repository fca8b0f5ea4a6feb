"""The `broadcasts` section of segbot.yaml; every key has a shipped default.

```yaml
broadcasts:
  schedule_sync_seconds: 60  # how soon a campaign saved by another process is scheduled
  best_hour:
    days: 30             # engagement over this many days picks the hour
    min_events: 20       # fewer engagement events than this: use the fallback hour
    fallback_hour: 18    # local hour (0-23) when there is too little data
  paid_broadcasts:
    enabled: false       # allow campaigns with `paid_broadcast` (Telegram Stars)
    per_second: 1000     # the paid rate, up to Telegram's 1000 messages/s
```
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from core.config import ConfigSections, validated

# Telegram's ceiling for allow_paid_broadcast.
MAX_PAID_PER_SECOND = 1000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BestHourConfig(_Strict):
    days: Annotated[int, Field(gt=0, le=365)] = 30
    min_events: Annotated[int, Field(ge=1)] = 20
    fallback_hour: Annotated[int, Field(ge=0, le=23)] = 18


class PaidBroadcastConfig(_Strict):
    enabled: bool = False
    per_second: Annotated[int, Field(gt=0, le=MAX_PAID_PER_SECOND)] = MAX_PAID_PER_SECOND


DEFAULT_BEST_HOUR = BestHourConfig()


class BroadcastsConfig(_Strict):
    schedule_sync_seconds: Annotated[int, Field(ge=1, le=3600)] = 60
    best_hour: BestHourConfig = BestHourConfig()
    paid_broadcasts: PaidBroadcastConfig = PaidBroadcastConfig()


def load_broadcasts_config(sections: ConfigSections) -> BroadcastsConfig:
    """The validated `broadcasts` section (defaults where absent); a mistake is one
    ConfigError naming the key."""
    return validated(BroadcastsConfig, sections.get("broadcasts") or {}, "broadcasts")
