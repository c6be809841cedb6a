"""The report's pictures, drawn with matplotlib and returned as PNG bytes (the report inlines them)."""

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from course.assignment import ASSIGNMENT  # noqa: E402
from course.tools.stats import PartStats  # noqa: E402

FULL, PARTIAL, ZERO = "#2e7d32", "#f9a825", "#c62828"  # green, amber, red: full, some, no marks
DPI = 100


@dataclass(frozen=True)
class Distribution:
    """One panel of a score distribution: a label, every student's points and the most there are."""

    label: str
    points: list[float]
    maximum: float


def png(fig) -> bytes:
    """The figure as PNG bytes (and closed)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def parts_figure(notebook: str, parts: list[PartStats]) -> bytes:
    """A horizontal bar per graded part: the shares of students with full, partial and no marks, the
    mean against the maximum at the right; parts that nearly everyone or nobody fails in red."""
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.34 * max(len(parts), 1)))
    rows = range(len(parts))[::-1]
    full = [p.full for p in parts]
    partial = [p.partial for p in parts]
    ax.barh(rows, full, color=FULL, label="full marks")
    ax.barh(rows, partial, left=full, color=PARTIAL, label="some points")
    ax.barh(rows, [p.zero for p in parts], left=[f + q for f, q in zip(full, partial)], color=ZERO, label="no points")
    ax.set_yticks(list(rows), [f"{p.name} ({p.kind}, {p.max_score:g} pt)" for p in parts], fontsize=9)
    for tick, part in zip(ax.get_yticklabels(), parts):
        if part.flag:
            tick.set_color(ZERO)
            tick.set_fontweight("bold")
    for row, part in zip(rows, parts):
        ax.text(1.01, row, f"mean {part.mean:.2g} / {part.max_score:g}" + (f"  ({part.flag})" if part.flag else ""),
                va="center", fontsize=8, transform=ax.get_yaxis_transform())
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of students")
    students = parts[0].students if parts else 0
    ax.set_title(f"{ASSIGNMENT}/{notebook}: how {students} students did on each graded part")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.04), ncol=3, fontsize=8, frameon=False)
    return png(fig)


def distribution_figure(title: str, panels: list[Distribution]) -> bytes:
    """Histograms of points side by side (autograded, manual, extra credit, total ...)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 2.6), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        top = panel.maximum or 1.0
        ax.hist(panel.points, bins=[top * i / 10 for i in range(11)], color="#1565c0")
        ax.set_xlim(0, top)
        ax.set_title(f"{panel.label} (of {panel.maximum:g})", fontsize=9)
        ax.set_xlabel("points", fontsize=8)
    axes.flat[0].set_ylabel("students", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return png(fig)


def timing_figure(seconds: list[float]) -> bytes:
    """A histogram of the grading time per submission."""
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.hist(seconds, bins=20, color="#6a1b9a")
    ax.set_xlabel("seconds to grade one submission (all its notebooks)")
    ax.set_ylabel("submissions")
    return png(fig)
