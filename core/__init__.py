"""Settings, database, the audience models and the clock. Imports nothing else of segbot's."""
