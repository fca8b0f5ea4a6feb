"""What admin handlers need beyond a DB session: the configuration sections their domain
calls take (CRM, segments, reports, AI segments), the campaign scheduler, the CRM hook and
the live progress messages.

One `AdminServices` is built in the entry point and handed to handlers as workflow data
(`admin_services`), never a module global.
"""

from dataclasses import dataclass, field

from bot.admin.live import LiveProgress
from broadcasts.reports import ReportsConfig
from broadcasts.scheduler import CampaignScheduler
from crm_sync.config import CrmConfig, load_crm_config
from crm_sync.worker import SyncedHook, no_hook
from segments.ai.config import AiConfig, load_ai_config
from segments.config import SegmentsConfig, load_segments_config


@dataclass(slots=True)
class AdminServices:
    crm: CrmConfig = field(default_factory=lambda: load_crm_config({}))
    segments: SegmentsConfig = field(default_factory=lambda: load_segments_config({}))
    reports: ReportsConfig = field(default_factory=ReportsConfig)
    ai: AiConfig = field(default_factory=lambda: load_ai_config({}))
    # Wakes the scheduler when the wizard saves a campaign, so "now" means now; without
    # one, the scheduler's own minutely sync picks the campaign up.
    campaigns: CampaignScheduler | None = None
    on_synced: SyncedHook = no_hook  # after a /sync: rescore RFM and the ladder
    live: LiveProgress = field(default_factory=LiveProgress)

    @property
    def rfm_names(self) -> tuple[str, ...]:
        return self.segments.rfm.segment_map().names
