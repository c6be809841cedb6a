"""Grades out of the gradebook: ``grades.csv`` and one readable figure per notebook of how the class did
on each graded part (the LMS import layouts are in course.tools.lms_export)."""

import csv
import os

from course.tools import figures, stats
from course.tools.grades import read_class_grades


def write_grades_csv(db_url: str, path: str) -> str:
    """One row per student: a column per notebook, the total, the late penalty apart, the final score
    and the maximum."""
    grades = read_class_grades(db_url)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student_id", *grades.notebooks, "total", "late_penalty", "final", "max_total"])
        for row in grades.students:
            writer.writerow([row.student, *(f"{row.score(n):g}" for n in grades.notebooks), f"{row.total:g}",
                             f"{row.penalty:g}", f"{row.final:g}", f"{grades.maximum():g}"])
    return path


def write_report(db_url: str, folder: str) -> list[str]:
    """One figure per notebook (``<notebook>-parts.png``): a bar per graded part with the shares of
    students at full, partial and no marks; returns the files."""
    os.makedirs(folder, exist_ok=True)
    grades = read_class_grades(db_url)
    written = []
    for notebook in grades.notebooks:
        path = os.path.join(folder, f"{notebook}-parts.png")
        with open(path, "wb") as f:
            f.write(figures.parts_figure(notebook, stats.part_stats(grades, notebook)))
        written.append(path)
    return written
