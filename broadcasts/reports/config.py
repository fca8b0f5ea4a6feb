"""The `reports` section of segbot.yaml: how conversions are attributed to broadcasts.

```yaml
reports:
  attribution_days: 7    # an order counts for a delivery sent at most this long before it
```
"""

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from core.config import ConfigSections, validated

DEFAULT_ATTRIBUTION_DAYS = 7


class ReportsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    attribution_days: Annotated[int, Field(gt=0, le=365)] = DEFAULT_ATTRIBUTION_DAYS

    @property
    def attribution_window(self) -> timedelta:
        return timedelta(days=self.attribution_days)


def load_reports_config(sections: ConfigSections) -> ReportsConfig:
    """The validated `reports` section (defaults when absent); a mistake is a ConfigError."""
    return validated(ReportsConfig, sections.get("reports") or {}, "reports")
