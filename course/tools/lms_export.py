"""Grade files that an LMS imports as they are: Canvas's gradebook CSV and Moodle's grading worksheet.

Both start from a roster the LMS itself exported, so every row and id is the LMS's own:

* **Canvas**: Grades > Export gives a CSV whose first columns are ``Student, ID, SIS User ID,
  SIS Login ID, Section``, a ``Points Possible`` row under the header, then one row per student.
  Canvas's import (Grades > Import) reads the same layout: it finds students by ``ID`` (the Canvas
  user id, also in the names of Canvas's submission downloads), takes an assignment column by its
  title (``hw2 (1234)`` for an existing assignment, a new title creates one) and its points from
  the ``Points Possible`` row. :func:`canvas_export` writes exactly those five columns, the
  ``Points Possible`` row and one column for the assignment.
* **Moodle**: Assignment > "Download grading worksheet" gives ``Identifier, Full name, Email
  address, Status, Grade, Maximum Grade, ... Last modified (grade), ...``, one row per participant,
  ``Identifier`` being ``Participant <id>`` with the participant id of the submission download's file
  names. "Upload grading worksheet" reads ``Identifier``, ``Grade`` and ``Last modified (grade)``.
  :func:`moodle_export` fills the ``Grade`` column of that worksheet and leaves the rest as it was.

Students are matched by the LMS id that ``course collect`` kept (nbgrader's ``Student.lms_user_id``).
A student on the roster without a submission gets 0 and is listed; a graded student who matches
nobody on the roster stops the export (:class:`UnmatchedStudents`) and nothing is written.
"""

import csv
import re
from dataclasses import dataclass, field

from course.assignment import ASSIGNMENT
from course.tools.grades import ClassGrades

CANVAS_STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "    Points Possible"  # as Canvas's own export writes it (the import looks for "Points Possible")
CANVAS_NON_STUDENT_ROW = re.compile(r"^\s*(Points Possible|Muted|Manual Posting.*)?\s*$", re.I)
MOODLE_ID, MOODLE_GRADE, MOODLE_MAXIMUM = "Identifier", "Grade", "Maximum Grade"
MOODLE_REQUIRED = (MOODLE_ID, MOODLE_GRADE, "Last modified (grade)")  # what Moodle's worksheet import reads
LMS_NAMES = ("canvas", "moodle")


@dataclass(frozen=True)
class LmsGrade:
    """A graded student as the LMS should get it: our id, the LMS id collect saw, the final points."""

    student: str
    lms_user_id: str | None
    points: float


@dataclass(frozen=True)
class RosterRow:
    """One student row of an LMS roster: the LMS id and the row as the LMS wrote it."""

    lms_id: str
    name: str
    cells: tuple[str, ...]


@dataclass
class ExportResult:
    """What an export wrote: the file, how many students, who got 0 for want of a submission, remarks."""

    path: str
    students: int
    missing: list[RosterRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class RosterError(ValueError):
    """The roster is not the LMS export the command expects."""


class UnmatchedStudents(ValueError):
    """Graded students that match nobody on the roster: the export would lose their grades."""


def lms_grades(grades: ClassGrades) -> list[LmsGrade]:
    """Every student who submitted, with the final points (after the late penalty)."""
    return [LmsGrade(s.student, s.lms_user_id, s.final) for s in grades.submitted]


def points_text(points: float) -> str:
    """Points as the LMSs show them: at most two decimals (Canvas rounds its own export so)."""
    return f"{round(points, 2):g}"


def match(roster: list[RosterRow], grades: list[LmsGrade], lms: str) -> tuple[dict[str, float], list[RosterRow]]:
    """Points by roster LMS id, and the roster rows without a graded student (they get 0).

    Raises:
        UnmatchedStudents: a graded student has no LMS id or one that is not on the roster.
    """
    ids = {row.lms_id for row in roster}
    unmatched = [g for g in grades if g.lms_user_id not in ids]
    if unmatched:
        listed = ", ".join(f"{g.student} ({'LMS id ' + g.lms_user_id if g.lms_user_id else 'no LMS id'})"
                           for g in unmatched)
        raise UnmatchedStudents(
            f"{len(unmatched)} graded student(s) match nobody on the {lms} roster: {listed}. Nothing was written. "
            f"Use the roster of the course these submissions came from, and collect submissions with "
            f"`course collect` from a {lms} download so each student has its {lms} id.")
    points = {g.lms_user_id: g.points for g in grades}
    return points, [row for row in roster if row.lms_id not in points]


def read_canvas_roster(path: str) -> tuple[list[str], list[RosterRow]]:
    """The header and the student rows of a Canvas gradebook export.

    Raises:
        RosterError: the first five columns are not Canvas's student columns.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    header = rows[0] if rows else []
    if tuple(header[:5]) != CANVAS_STUDENT_COLUMNS:
        raise RosterError(f"{path} is not a Canvas gradebook export: its first columns must be "
                          f"{', '.join(CANVAS_STUDENT_COLUMNS)} (they are {', '.join(header[:5]) or 'missing'}). "
                          "Export it from Canvas: Grades > Export > Export Entire Gradebook.")
    students = [RosterRow(row[1].strip(), row[0], tuple(row[:5])) for row in rows[1:]
                if row and not CANVAS_NON_STUDENT_ROW.match(row[0]) and any(cell.strip() for cell in row[1:5])]
    return header, students


def canvas_column(header: list[str]) -> str:
    """The roster's column of this assignment (``hw2`` or ``hw2 (<Canvas id>)``), else a new ``hw2``."""
    pattern = re.compile(rf"^{re.escape(ASSIGNMENT)}( \(\d+\))?$", re.I)
    return next((name for name in header[5:] if pattern.match(name.strip())), ASSIGNMENT)


def canvas_export(roster_path: str, grades: list[LmsGrade], maximum: float, path: str,
                  column: str | None = None) -> ExportResult:
    """Write Canvas's gradebook import CSV for the assignment column ``column`` (default: found in the
    roster, see :func:`canvas_column`) with ``maximum`` as its points possible."""
    header, roster = read_canvas_roster(roster_path)
    points, missing = match(roster, grades, "canvas")
    column = column or canvas_column(header)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([*CANVAS_STUDENT_COLUMNS, column])
        writer.writerow([CANVAS_POINTS_ROW, "", "", "", "", points_text(maximum)])
        for row in roster:
            writer.writerow([*row.cells, points_text(points.get(row.lms_id, 0.0))])
    return ExportResult(path, len(roster), missing)


def moodle_participant(identifier: str) -> str:
    """The participant id in a worksheet's ``Identifier`` (``Participant 12345`` in English; any language)."""
    found = re.search(r"(\d+)\s*$", identifier)
    return found.group(1) if found else identifier.strip()


def read_moodle_worksheet(path: str) -> tuple[list[str], list[RosterRow]]:
    """The header and the participant rows of a Moodle grading worksheet.

    Raises:
        RosterError: a column Moodle's import reads is missing.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    header = rows[0] if rows else []
    missing = [c for c in MOODLE_REQUIRED if c not in header]
    if missing:
        raise RosterError(f"{path} is not a Moodle grading worksheet: it lacks {', '.join(missing)}. Download it from "
                          "the assignment: View all submissions > Grading action > Download grading worksheet "
                          "(with 'Offline grading worksheet' enabled in the assignment's feedback types).")
    ident = header.index(MOODLE_ID)
    name = header.index("Full name") if "Full name" in header else ident
    return header, [RosterRow(moodle_participant(row[ident]), row[name], tuple(row)) for row in rows[1:] if row]


def moodle_export(worksheet_path: str, grades: list[LmsGrade], maximum: float, path: str) -> ExportResult:
    """Write the Moodle grading worksheet with its ``Grade`` column filled in."""
    header, roster = read_moodle_worksheet(worksheet_path)
    points, missing = match(roster, grades, "moodle")
    grade = header.index(MOODLE_GRADE)
    notes = []
    if MOODLE_MAXIMUM in header:
        maxima = {row.cells[header.index(MOODLE_MAXIMUM)].strip() for row in roster} - {""}
        if maxima and {_number(m) for m in maxima} != {maximum}:
            notes.append(f"Moodle's maximum grade is {', '.join(sorted(maxima))}, the course's {maximum:g}: "
                         "Moodle keeps the points as given, so set the assignment's maximum grade to match.")
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in roster:
            cells = list(row.cells) + [""] * (len(header) - len(row.cells))
            cells[grade] = f"{points.get(row.lms_id, 0.0):.2f}"
            writer.writerow(cells)
    return ExportResult(path, len(roster), missing, notes)


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return None
