"""Ordered levels segbot assigns to subscribers: ladder stages and activity levels.

Both are ordered lowest first, so rules can compare them (`stage >= solution_aware`).
"""

# Ben Hunt's ladder of awareness; a stage's number is its position (0-4).
STAGES = ("unaware", "problem_aware", "solution_aware", "product_aware", "most_aware")

# From no engagement at all to the most engaged.
ACTIVITY_LEVELS = ("dormant", "cold", "passive", "active", "very_active")
