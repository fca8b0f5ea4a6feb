"""The `reports` section of segbot.yaml: how conversions are attributed to broadcasts.

```yaml
reports:
  attribution_days: 7    # an order counts for a delivery sent at most this long before it
```
"""

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.config import ConfigSections
from core.errors import ConfigError

DEFAULT_ATTRIBUTION_DAYS = 7


class ReportsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    attribution_days: Annotated[int, Field(gt=0, le=365)] = DEFAULT_ATTRIBUTION_DAYS

    @property
    def attribution_window(self) -> timedelta:
        return timedelta(days=self.attribution_days)


def load_reports_config(sections: ConfigSections) -> ReportsConfig:
    """The validated `reports` section (defaults when absent); a mistake is a ConfigError."""
    try:
        return ReportsConfig.model_validate(sections.get("reports") or {})
    except ValidationError as error:
        problems = [
            ".".join(str(part) for part in ("reports", *detail["loc"])) + f": {detail['msg']}"
            for detail in error.errors()
        ]
        raise ConfigError("; ".join(problems)) from None
