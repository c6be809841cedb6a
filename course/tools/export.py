"""Grades for the LMS (``grades.csv``) and a per-part score report with plots."""

import csv
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from nbgrader.api import Gradebook  # noqa: E402

from course.assignment import ASSIGNMENT  # noqa: E402
from course.tools.notebooks import is_extra_credit  # noqa: E402


def scores(db_url: str) -> tuple[list[str], dict[str, dict[str, float]], dict[str, float]]:
    """``(notebooks, per student {notebook: score}, {notebook: max score})`` from the gradebook.

    A score counts manual grades where a TA gave one, automatic ones elsewhere (nbgrader's rule);
    extra-credit cells add to the score but not to the maximum.
    """
    with Gradebook(db_url) as gradebook:
        assignment = gradebook.find_assignment(ASSIGNMENT)
        notebooks = [nb.name for nb in assignment.notebooks]
        maxima = {nb.name: sum(c.max_score for c in nb.grade_cells if not is_extra_credit(c.name))
                  for nb in assignment.notebooks}
        table = {}
        for student in sorted(s.id for s in gradebook.students):
            row = {}
            for name in notebooks:
                try:
                    row[name] = gradebook.find_submission_notebook(name, ASSIGNMENT, student).score
                except Exception:  # nbgrader's MissingEntry: no submission of this notebook
                    row[name] = 0.0
            table[student] = row
    return notebooks, table, maxima


def write_grades_csv(db_url: str, path: str) -> str:
    """One row per student: a column per notebook, the total, and the maximum (LMS import format)."""
    notebooks, table, maxima = scores(db_url)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student_id", *notebooks, "total", "max_total"])
        for student, row in table.items():
            writer.writerow([student, *(f"{row[n]:g}" for n in notebooks), f"{sum(row.values()):g}",
                             f"{sum(maxima.values()):g}"])
    return path


def part_scores(db_url: str) -> dict[str, dict[str, list[float]]]:
    """{notebook: {graded cell: [score of each student who submitted]}}."""
    parts = {}
    with Gradebook(db_url) as gradebook:
        for notebook in gradebook.find_assignment(ASSIGNMENT).notebooks:
            cells = {cell.name: [] for cell in notebook.grade_cells}
            for submission in notebook.submissions:
                for grade in submission.grades:
                    cells[grade.name].append(grade.score or 0.0)
            parts[notebook.name] = cells
    return parts


def write_report(db_url: str, folder: str) -> list[str]:
    """A histogram of scores for every graded part, one figure per notebook; returns the files."""
    os.makedirs(folder, exist_ok=True)
    written = []
    with Gradebook(db_url) as gradebook:
        maxima = {(nb.name, cell.name): cell.max_score for nb in gradebook.find_assignment(ASSIGNMENT).notebooks
                  for cell in nb.grade_cells}
    for notebook, cells in part_scores(db_url).items():
        names = sorted(cells)
        columns = 4
        rows = max(1, -(-len(names) // columns))
        fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.6 * rows), squeeze=False)
        for ax, name in zip(axes.flat, names):
            top = maxima[(notebook, name)]
            ax.hist(cells[name], bins=[top * i / 10 for i in range(11)] if top else 1, color="tab:blue")
            full = sum(score >= top for score in cells[name])
            ax.set_title(f"{name}\n{full}/{len(cells[name])} full marks", fontsize=8)
            ax.set_xlim(0, top or 1)
        for ax in list(axes.flat)[len(names):]:
            ax.axis("off")
        fig.suptitle(f"{ASSIGNMENT}/{notebook}: score distribution per graded part")
        fig.tight_layout()
        path = os.path.join(folder, f"{notebook}-parts.png")
        fig.savefig(path, dpi=80)
        plt.close(fig)
        written.append(path)
    return written
