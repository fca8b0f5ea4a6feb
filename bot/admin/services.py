"""What admin handlers need beyond a DB session: segbot.yaml's sections their domain calls
take (CRM, segments, reports, AI segments), the campaign scheduler, the CRM hook and the
live progress messages.

One `AdminServices` is built in the entry point and handed to handlers as workflow data
(`admin_services`, and in `ctx.services`), never a module global.
"""

from dataclasses import dataclass, field

from bot.admin.live import LiveProgress
from bot.config import AppConfig
from broadcasts.reports import ReportsConfig
from broadcasts.scheduler import CampaignScheduler
from crm_sync.config import CrmConfig
from crm_sync.worker import SyncedHook, no_hook
from segments.ai.config import AiConfig
from segments.config import SegmentsConfig


@dataclass(slots=True)
class AdminServices:
    config: AppConfig = field(default_factory=AppConfig)
    # Wakes the scheduler when the wizard saves a campaign, so "now" means now; without
    # one, the scheduler's own minutely sync picks the campaign up.
    campaigns: CampaignScheduler | None = None
    on_synced: SyncedHook = no_hook  # after a /sync: rescore RFM and the ladder
    live: LiveProgress = field(default_factory=LiveProgress)

    @property
    def crm(self) -> CrmConfig:
        return self.config.crm

    @property
    def segments(self) -> SegmentsConfig:
        return self.config.segments

    @property
    def reports(self) -> ReportsConfig:
        return self.config.reports

    @property
    def ai(self) -> AiConfig:
        return self.config.ai

    @property
    def rfm_names(self) -> tuple[str, ...]:
        return self.config.rfm_names
