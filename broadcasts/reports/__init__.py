"""Campaign analytics: funnels, attribution, lift, A/B results, send times, trends and
audience statistics. The public interface the CLI and the admin console use."""

from broadcasts.reports.ab import AbResult, PairComparison, VariantOutcome
from broadcasts.reports.audience import AudienceStats, Growth, audience_stats
from broadcasts.reports.campaign import CampaignReport, FunnelCounts, FunnelRow, campaign_report
from broadcasts.reports.charts import funnel_png
from broadcasts.reports.config import ReportsConfig, load_reports_config
from broadcasts.reports.export import report_csv, results_csv
from broadcasts.reports.lift import Lift

__all__ = [
    "AbResult",
    "AudienceStats",
    "CampaignReport",
    "FunnelCounts",
    "FunnelRow",
    "Growth",
    "Lift",
    "PairComparison",
    "ReportsConfig",
    "VariantOutcome",
    "audience_stats",
    "campaign_report",
    "funnel_png",
    "load_reports_config",
    "report_csv",
    "results_csv",
]
