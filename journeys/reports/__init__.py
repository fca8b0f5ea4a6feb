"""Journey reports: per journey and per step, entries, reach, messages, conversions,
revenue and exits, and lift against the holdout (README "Journey reports")."""

from journeys.reports.chart import journey_png
from journeys.reports.export import journey_csv
from journeys.reports.report import JourneyReport, StepReport, journey_report

__all__ = ["JourneyReport", "StepReport", "journey_csv", "journey_png", "journey_report"]
