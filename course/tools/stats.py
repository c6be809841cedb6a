"""The statistics of the course report, as pure functions of the gradebook snapshot and the grading
records: per-part difficulty and item analysis, the most frequent failed checks, grading operations."""

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass

from course.pipeline.record import GradingRecord
from course.tools.grades import ClassGrades

FLAG_SHARE = 0.05  # a part is marked when at most 1 student in 20 gets full marks, or at most 1 in 20 misses them
LOW_DISCRIMINATION = 0.2  # item-rest correlation below this: the part hardly separates strong from weak
                          # students (the usual rule of thumb of classical item analysis)
TOP_FAILURES = 5  # failed checks listed per part


def pearson(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's correlation of two equally long lists; None when either is constant or too short."""
    if len(xs) < 2 or len(xs) != len(ys):
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx, syy = sum((x - mx) ** 2 for x in xs), sum((y - my) ** 2 for y in ys)
    return sxy / (sxx * syy) ** 0.5 if sxx > 0 and syy > 0 else None


def item_rest_correlation(part: list[float], totals: list[float]) -> float | None:
    """The correlation of a part's scores with the rest of each student's score (total minus the part).

    A low or negative value means the part does not go with doing well elsewhere: often an unfair,
    ambiguous or broken question.
    """
    return pearson(part, [total - score for score, total in zip(part, totals)])


@dataclass(frozen=True)
class PartStats:
    """How the class did on one graded cell."""

    notebook: str
    name: str
    kind: str  # autograded, manual or extra credit
    max_score: float
    students: int
    mean: float
    full: float  # share of students with full marks
    partial: float  # share with some but not all points
    zero: float  # share with no points
    correlation: float | None  # item-rest correlation; None when everyone scored the same

    @property
    def flag(self) -> str:
        """'nearly everyone fails', 'nobody fails' or '' (neither)."""
        if self.students and self.full <= FLAG_SHARE:
            return "nearly everyone fails"
        if self.students and self.full >= 1 - FLAG_SHARE:
            return "nobody fails"
        return ""

    @property
    def discrimination(self) -> str:
        """'negative', 'low' or '' for the item-rest correlation."""
        if self.correlation is None:
            return ""
        return "negative" if self.correlation < 0 else "low" if self.correlation < LOW_DISCRIMINATION else ""


def part_stats(grades: ClassGrades, notebook: str) -> list[PartStats]:
    """One :class:`PartStats` per graded cell of ``notebook``, over the students who submitted it."""
    students = [s for s in grades.submitted if any(key[0] == notebook for key in s.grades)]
    totals = [s.total for s in students]
    found = []
    for cell in grades.cells_of(notebook):
        scores = [s.grades[(notebook, cell.name)].score if (notebook, cell.name) in s.grades else 0.0 for s in students]
        n = len(scores) or 1
        full = sum(score >= cell.max_score for score in scores) / n
        zero = sum(score <= 0 for score in scores) / n if cell.max_score > 0 else 0.0
        found.append(PartStats(notebook, cell.name, cell.kind, cell.max_score, len(scores),
                               statistics.fmean(scores) if scores else 0.0, full, max(0.0, 1 - full - zero), zero,
                               item_rest_correlation(scores, totals)))
    return found


@dataclass(frozen=True)
class FrequentFailure:
    """A check that failed for many students: what it checked, the message most of them read, how many."""

    part: str
    what: str
    detail: str
    students: int


def frequent_failures(records: list[GradingRecord], top: int = TOP_FAILURES) -> dict[tuple[str, str], list[FrequentFailure]]:
    """Per (notebook, grade id) of a test cell: its ``top`` failed checks by the number of students who hit them."""
    hits: dict[tuple[str, str], dict[tuple[str, str], set[str]]] = defaultdict(lambda: defaultdict(set))
    details: dict[tuple[str, str, str, str], Counter] = defaultdict(Counter)
    for record in records:
        for cell in record.cells:
            for part in cell.parts:
                for check in part.failed:
                    hits[(record.notebook, cell.grade_id)][(part.part, check.what)].add(record.student)
                    details[(record.notebook, cell.grade_id, part.part, check.what)][check.detail] += 1
    found = {}
    for key, checks in hits.items():
        ranked = sorted(checks.items(), key=lambda item: (-len(item[1]), item[0]))[:top]
        found[key] = [FrequentFailure(part, what, details[(*key, part, what)].most_common(1)[0][0], len(students))
                      for (part, what), students in ranked]
    return found


@dataclass(frozen=True)
class NotebookOperations:
    """How grading one notebook went across the class."""

    notebook: str
    submissions: int
    mean_seconds: float
    median_seconds: float
    longest_seconds: float
    kernel_restarts: int
    gave_up: int  # notebooks whose kernel died too often to finish
    grader_errors: int  # test cells whose grader failed (sent to manual grading)
    unreadable: int  # files that were not notebooks


def notebook_operations(records: list[GradingRecord]) -> list[NotebookOperations]:
    """One :class:`NotebookOperations` per notebook that has records."""
    by_notebook: dict[str, list[GradingRecord]] = defaultdict(list)
    for record in records:
        by_notebook[record.notebook].append(record)
    return [NotebookOperations(notebook, len(rs), statistics.fmean(r.seconds for r in rs),
                               statistics.median(r.seconds for r in rs), max(r.seconds for r in rs),
                               sum(r.kernel_restarts for r in rs), sum(r.gave_up for r in rs),
                               sum(len(r.grader_errors) for r in rs), sum(r.unreadable for r in rs))
            for notebook, rs in sorted(by_notebook.items())]


def submission_seconds(records: list[GradingRecord]) -> dict[str, float]:
    """Grading time per student (all their notebooks)."""
    seconds: dict[str, float] = defaultdict(float)
    for record in records:
        seconds[record.student] += record.seconds
    return dict(seconds)


@dataclass(frozen=True)
class ManualProgress:
    """How far the TAs have got with one notebook's manual grading."""

    notebook: str
    graded: int  # grades a TA has given
    open: int  # grades still waiting for a TA (written answers, grader errors)
    submissions_waiting: int  # submissions with at least one open grade

    @property
    def done(self) -> float:
        """Share of the manual grades given (1 when there is nothing to grade)."""
        return self.graded / (self.graded + self.open) if self.graded + self.open else 1.0


def manual_progress(grades: ClassGrades) -> list[ManualProgress]:
    """Per notebook, from nbgrader's ``needs_manual_grade`` and ``manual_score``."""
    found = []
    for notebook in grades.notebooks:
        graded = open_ = waiting = 0
        for student in grades.submitted:
            mine = [g for key, g in student.grades.items() if key[0] == notebook]
            open_here = sum(g.needs_manual_grade for g in mine)
            graded += sum(g.manual_score is not None and not g.needs_manual_grade for g in mine)
            open_ += open_here
            waiting += open_here > 0
        found.append(ManualProgress(notebook, graded, open_, waiting))
    return found
