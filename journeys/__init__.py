"""Journeys: automated, event-triggered message sequences (README "Journeys";
docs/architecture.md says which module does what)."""
