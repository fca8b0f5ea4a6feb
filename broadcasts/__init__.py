"""Campaigns, templates, the outbox planner, the rate-limited sender and reports."""
