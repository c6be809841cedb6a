"""The late policy: a share of the score lost per started day late, up to a cap, with per-student
extensions; applied through nbgrader's late-penalty plugin mechanism.

nbgrader_config.py names :class:`LatePolicy` as ``AssignLatePenalties.plugin_class`` and sets its
traits (the due date, the penalty per day, the cap, the CSV of extensions). nbgrader's
``AssignLatePenalties`` step (in the autograde pipeline) counts the seconds a submission is late from
its timestamp (``submitted/<student>/hw2/timestamp.txt``, written by ``course collect``) and the
assignment's due date in the gradebook, asks the plugin for the penalty and stores it per notebook
(``SubmittedNotebook.late_submission_penalty``). ``course export`` and ``course report`` run the same
step again on the gradebook (:func:`apply_penalties`), so the penalty follows the final score after a
TA's manual grading, and a parallel autograde, whose merge copies scores only, loses nothing.

Example (nbgrader_config.py)::

    c.AssignLatePenalties.plugin_class = LatePolicy
    c.LatePolicy.duedate = "2026-11-15 23:59:00 Europe/Berlin"
    c.LatePolicy.penalty_per_day = 0.1      # 10 % of the score per started day
    c.LatePolicy.cap = 0.5                  # never more than half of it
    c.LatePolicy.extensions = "extensions.csv"   # student_id,days
"""

import csv
import math
from dataclasses import dataclass

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import LateSubmissionPlugin
from nbgrader.preprocessors import AssignLatePenalties
from nbgrader.utils import parse_utc
from traitlets import Float, Unicode
from traitlets.config import Config

from course.assignment import ASSIGNMENT
from course.tools.settings import course_config

SECONDS_PER_DAY = 24 * 3600
EXTENSION_COLUMNS = ("student_id", "days")


@dataclass(frozen=True)
class Extension:
    """More time for one student: the due date moves by ``days`` (fractions allowed)."""

    student: str
    days: float


def penalty_share(seconds_late: float, per_day: float, cap: float) -> float:
    """The share of the score lost: ``per_day`` for every started day late, at most ``cap``.

    >>> penalty_share(0, 0.1, 0.5), penalty_share(1, 0.1, 0.5), penalty_share(86401, 0.1, 0.5)
    (0.0, 0.1, 0.2)
    """
    if seconds_late <= 0:
        return 0.0
    return min(cap, per_day * math.ceil(seconds_late / SECONDS_PER_DAY))


def read_extensions(path: str) -> dict[str, Extension]:
    """The extensions CSV (columns ``student_id,days``) by student; an empty path means none.

    Raises:
        ValueError: the file lacks those columns or a row's days is not a number, naming the row.
    """
    if not path:
        return {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in EXTENSION_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: the extensions file needs the columns {', '.join(EXTENSION_COLUMNS)} "
                             f"(it has {', '.join(reader.fieldnames or []) or 'none'})")
        extensions = {}
        for line, row in enumerate(reader, start=2):
            try:
                extensions[row["student_id"].strip()] = Extension(row["student_id"].strip(), float(row["days"]))
            except ValueError:
                raise ValueError(f"{path}, line {line}: days must be a number of days, not {row['days']!r}") from None
    return extensions


class LatePolicy(LateSubmissionPlugin):
    """nbgrader's late-penalty plugin for the course: ``penalty_per_day`` of the notebook's score per
    started day late, at most ``cap`` of it; a student's extension (``extensions`` CSV) moves the due
    date for that student."""

    duedate = Unicode("", help="Due date written into the gradebook by `course collect`, e.g. "
                               "'2026-11-15 23:59:00 Europe/Berlin'; empty: keep the gradebook's "
                               "(nbgrader db assignment add hw2 --duedate=...).").tag(config=True)
    penalty_per_day = Float(0.1, help="Share of the notebook's score lost per started day late.").tag(config=True)
    cap = Float(0.5, help="The largest share of the score a late submission loses.").tag(config=True)
    extensions = Unicode("", help="CSV file of per-student extensions, columns student_id,days.").tag(config=True)

    def seconds_late(self, student_id: str, total_seconds_late: float) -> float:
        """Seconds late after the student's extension (``total_seconds_late``: past the gradebook's due date)."""
        extension = read_extensions(self.extensions).get(student_id)
        return max(0.0, total_seconds_late - (extension.days * SECONDS_PER_DAY if extension else 0.0))

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
        """The points ``student_id`` loses on a notebook that scored ``score``."""
        share = penalty_share(self.seconds_late(student_id, total_seconds_late), self.penalty_per_day, self.cap)
        return round(score * share, 2)


def policy(config: Config) -> LatePolicy:
    """The course's late policy as configured (the plugin nbgrader would instantiate)."""
    return LatePolicy(config=config)


def write_due_date(root: str) -> None:
    """Write the policy's due date (if configured) into the gradebook, where nbgrader counts lateness from."""
    config = course_config(root)
    due = policy(config).duedate
    if due:
        with Gradebook(config.CourseDirectory.db_url) as gradebook:
            gradebook.update_or_create_assignment(ASSIGNMENT, duedate=parse_utc(due))


def apply_penalties(root: str) -> None:
    """Run nbgrader's ``AssignLatePenalties`` step, with the course's configuration, on every submitted
    notebook of the gradebook: the penalties then follow the current (final) scores."""
    config = course_config(root)
    write_due_date(root)
    url = config.CourseDirectory.db_url
    with Gradebook(url) as gradebook:
        try:
            assignment = gradebook.find_assignment(ASSIGNMENT)
        except MissingEntry:
            return
        pairs = [(notebook.name, submission.student.id) for submission in assignment.submissions
                 for notebook in submission.notebooks]
    step = AssignLatePenalties(config=config)
    for notebook, student in pairs:
        resources = {"nbgrader": {"notebook": notebook, "assignment": ASSIGNMENT, "student": student, "db_url": url}}
        step.preprocess(nbformat.v4.new_notebook(), resources)

