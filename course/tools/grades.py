"""A typed snapshot of the gradebook: the graded cells of the assignment and every student's grades,
late penalties and LMS id, read once for the exports and the report."""

import datetime
from dataclasses import dataclass, field

from nbgrader.api import Gradebook

from course.assignment import ASSIGNMENT
from course.tools.notebooks import is_extra_credit

AUTOGRADED, MANUAL, EXTRA_CREDIT = "autograded", "manual", "extra credit"  # the kinds of graded cells


@dataclass(frozen=True)
class GradedCell:
    """A graded cell of a notebook, as nbgrader's gradebook holds it."""

    notebook: str
    name: str  # nbgrader's grade id
    max_score: float
    manual: bool  # a TA grades it (a written or manually graded answer); otherwise a test cell

    @property
    def kind(self) -> str:
        """Autograded, manual or extra credit (grade ids starting ``ec_``: beyond the maximum)."""
        return EXTRA_CREDIT if is_extra_credit(self.name) else MANUAL if self.manual else AUTOGRADED


@dataclass(frozen=True)
class CellGrade:
    """One student's grade of one cell."""

    score: float  # nbgrader's rule: the manual score where a TA gave one, the automatic one elsewhere
    needs_manual_grade: bool
    manual_score: float | None


@dataclass
class StudentGrades:
    """One student's grades, late penalties and LMS id."""

    student: str
    lms_user_id: str | None
    submitted: bool
    timestamp: datetime.datetime | None  # the submission time nbgrader counts from (UTC)
    grades: dict[tuple[str, str], CellGrade] = field(default_factory=dict)  # (notebook, grade id) ->
    penalties: dict[str, float] = field(default_factory=dict)  # notebook -> late penalty (points)

    def score(self, notebook: str) -> float:
        """Points in ``notebook``, before any penalty."""
        return sum(g.score for key, g in self.grades.items() if key[0] == notebook)

    def points(self, cells: list["GradedCell"]) -> float:
        """Points in the given cells (e.g. the autograded cells of the assignment)."""
        return sum(self.grades[key].score for key in ((c.notebook, c.name) for c in cells) if key in self.grades)

    @property
    def total(self) -> float:
        return sum(g.score for g in self.grades.values())

    @property
    def penalty(self) -> float:
        return sum(self.penalties.values())

    @property
    def final(self) -> float:
        """The total after the late penalty (never below zero, as nbgrader's own export)."""
        return max(0.0, self.total - self.penalty)


@dataclass
class ClassGrades:
    """The whole gradebook of the assignment: its graded cells and every student's grades."""

    notebooks: list[str]
    cells: list[GradedCell]
    students: list[StudentGrades]
    duedate: datetime.datetime | None

    def maximum(self, notebook: str | None = None) -> float:
        """Full marks (extra credit excluded) of one notebook, or of the assignment."""
        return sum(c.max_score for c in self.cells if c.kind != EXTRA_CREDIT and notebook in (None, c.notebook))

    def cells_of(self, notebook: str) -> list[GradedCell]:
        return [c for c in self.cells if c.notebook == notebook]

    @property
    def submitted(self) -> list[StudentGrades]:
        return [s for s in self.students if s.submitted]


def read_class_grades(db_url: str) -> ClassGrades:
    """Everything the report and the exports need from the gradebook at ``db_url``, read once.

    Students of the gradebook without a submission are there with no grades (a score of 0).
    """
    with Gradebook(db_url) as gradebook:
        assignment = gradebook.find_assignment(ASSIGNMENT)
        notebooks = [nb.name for nb in assignment.notebooks]
        cells = [GradedCell(nb.name, cell.name, cell.max_score, cell.name in {s.name for s in nb.solution_cells})
                 for nb in assignment.notebooks for cell in nb.grade_cells]
        students = {s.id: StudentGrades(s.id, s.lms_user_id, False, None) for s in gradebook.students}
        for submission in assignment.submissions:
            row = students[submission.student.id]
            row.submitted, row.timestamp = True, submission.timestamp
            for notebook in submission.notebooks:
                row.penalties[notebook.name] = notebook.late_submission_penalty or 0.0
                for grade in notebook.grades:
                    row.grades[(notebook.name, grade.name)] = CellGrade(
                        grade.score or 0.0, bool(grade.needs_manual_grade), grade.manual_score)
        return ClassGrades(notebooks, cells, [students[s] for s in sorted(students)], assignment.duedate)
