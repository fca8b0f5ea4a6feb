"""A picture of a generation for the admin chat: one bar per AI segment (its size and
share of the audience), labelled with its name and its strongest traits (each with the
share of the segment it holds for). PNG bytes,
drawn with matplotlib's Agg canvas (no display, no global pyplot state)."""

import io
import textwrap

from segments.ai.generate import Generation

TRAITS_SHOWN = 3


def cluster_chart_png(result: Generation) -> bytes:
    """The chart of `result` as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    profiles = result.profiles
    figure = Figure(figsize=(9, 1.2 + 1.1 * len(profiles)), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(profiles)))[::-1]  # the largest cluster on top
    sizes = [profile.size for profile in profiles]
    axes.barh(positions, sizes, color="#4c78a8", height=0.6)
    axes.set_yticks(positions, [textwrap.fill(p.name, 28) for p in profiles], fontsize=9)
    for position, profile in zip(positions, profiles, strict=True):
        traits = "; ".join(f"{t.label} {t.share:.0%}" for t in profile.traits[:TRAITS_SHOWN])
        axes.annotate(
            f"{profile.size:,} ({profile.share:.0%})  {traits or 'close to the average'}",
            xy=(0, position + 0.36), fontsize=8, color="#333333",
        )  # fmt: skip
    axes.set_xlabel("subscribers")
    axes.set_xlim(0, max(sizes, default=1) * 1.05)
    axes.set_title(
        f"AI segments: {result.k} clusters of {result.audience:,} subscribers", fontsize=11
    )
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    output = io.BytesIO()
    figure.savefig(output, format="png")
    return output.getvalue()
