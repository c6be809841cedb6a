"""Splitting a test cell's points among the parts it grades, and adding up what they earned.

A test cell may name several parts. Its points (the gradebook's value) are shared among them in
proportion to the points each part declares in its grader; what the parts earn is added up and
capped at the cell's points, rounded to 1/100 so the feedback and the gradebook agree.
"""

from collections.abc import Sequence


def shares(cell_points: float, weights: Sequence[float]) -> list[float]:
    """Each part's share of ``cell_points``, in proportion to ``weights``."""
    total = sum(weights) or 1.0
    return [cell_points * weight / total for weight in weights]


def cell_total(earned: Sequence[float], cell_points: float) -> float:
    """The points of the cell: the parts' points added up, at most ``cell_points``, to 1/100."""
    return round(min(sum(earned), cell_points), 2)
