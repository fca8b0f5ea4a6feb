"""Charts render to PNG without a display, whatever the data (empty included)."""

from datetime import UTC, datetime, timedelta

from bot.admin import charts

PNG = b"\x89PNG\r\n\x1a\n"


def test_charts_are_png_even_when_empty() -> None:
    day = datetime(2026, 11, 2, tzinfo=UTC)
    drawn = [
        charts.bars("Stages", ["a", "b"], [3, 0], xlabel="subscribers", highlight=[1, 0]),
        charts.bars("Nothing", [], [], xlabel="subscribers"),
        charts.line("Size", [day, day + timedelta(days=1)], [4, 9], ylabel="members"),
        charts.line("Size", [day], [0], ylabel="members"),
        charts.heatmap(
            "RFM",
            [[0] * 5] * 5,
            rows=list("12345"),
            columns=list("12345"),
            row_label="R",
            column_label="F",
        ),
        charts.panels("Audience", [("Status", ["active"], [0]), ("Sources", ["x", "y"], [2, 1])]),
    ]
    assert all(png.startswith(PNG) for png in drawn)
