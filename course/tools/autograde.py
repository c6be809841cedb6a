"""Autograde many submissions in parallel on one machine, safely for the gradebook.

Each worker runs plain ``nbgrader autograde hw2 --student <id>`` (so the course's protected pipeline
from ``nbgrader_config.py`` applies). SQLite takes one writer at a time, so with an SQLite gradebook
every worker writes to its own copy and this process, the only writer of the real gradebook, merges
each student's grades into it as soon as that student is done: an interrupted run keeps every
finished student, and a rerun updates rows instead of adding them. A server gradebook
(``db_url`` not SQLite) is written by the workers directly.
"""

import os
import queue
import shutil
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from nbgrader.api import Gradebook
from sqlalchemy.exc import SAWarning
from tqdm import tqdm

from course.tools.nbgrader_cmd import nbgrader
from course.assignment import ASSIGNMENT
from course.dburl import sqlite_path, sqlite_url
from course.pipeline.record import read_records


@dataclass
class Outcome:
    """How grading one student went."""

    student: str
    ok: bool
    seconds: float
    points: float = 0.0
    max_points: float = 0.0
    restarts: int = 0
    grader_errors: int = 0
    unreadable: list = field(default_factory=list)  # notebooks that were not notebooks
    log: str = ""

    @property
    def status(self) -> str:
        if not self.ok:
            return "FAILED (see log)"
        notes = [f"{self.grader_errors} grader error(s): manual review"] if self.grader_errors else []
        notes += [f"unreadable: {', '.join(self.unreadable)}"] if self.unreadable else []
        notes += [f"{self.restarts} kernel restart(s)"] if self.restarts else []
        return ", ".join(["graded", *notes])


def merge_student(source_url: str, target_url: str, assignment: str, student: str) -> None:
    """Copy one student's submission (timestamps, automatic scores, flags, comments) from the gradebook at
    ``source_url`` into the one at ``target_url``. Manual scores already in the target are kept."""
    with warnings.catch_warnings(), Gradebook(source_url) as source, Gradebook(target_url) as target:
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own autoflush chatter on new submissions
        submitted = source.find_submission(assignment, student)
        target.update_or_create_student(student)
        target.update_or_create_submission(assignment, student, timestamp=submitted.timestamp)
        for notebook in submitted.notebooks:
            copy = target.find_submission_notebook(notebook.name, assignment, student)
            copy.flagged = notebook.flagged
            for grade in notebook.grades:
                into = target.find_grade(grade.name, notebook.name, assignment, student)
                into.auto_score = grade.auto_score
                into.needs_manual_grade = grade.needs_manual_grade or into.manual_score is not None
            for comment in notebook.comments:
                target.find_comment(comment.name, notebook.name, assignment, student).auto_comment = comment.auto_comment
        target.db.commit()


def grading_records(root: str) -> str:
    """The folder of the grading records of the course in ``root`` (``GuardedExecute.record_dir``)."""
    return os.path.join(root, "reports", "grading")


def grade_one(root: str, student: str, db_url: str, force: bool) -> Outcome:
    """Run nbgrader for one student against the gradebook ``db_url``."""
    started = time.monotonic()
    log = os.path.join(root, "reports", "logs", f"autograde-{student}.log")
    args = ["autograde", ASSIGNMENT, "--student", student, f"--CourseDirectory.db_url={db_url}"]
    result = nbgrader(args + (["--force"] if force else []), root, log_path=log, check=False)
    outcome = Outcome(student, result.returncode == 0, time.monotonic() - started, log=log)
    for record in read_records(grading_records(root), ASSIGNMENT, student):
        outcome.restarts += record.kernel_restarts
        outcome.grader_errors += len(record.grader_errors)
        if record.unreadable:
            outcome.unreadable.append(record.notebook)
        outcome.points += record.points
        outcome.max_points += record.max_points
    return outcome


def autograde(root: str, students: list[str], db_url: str, workers: int = 1, force: bool = False,
              progress: bool = True) -> list[Outcome]:
    """Grade ``students`` with ``workers`` parallel nbgrader processes; returns one outcome each.

    Each worker holds a gradebook (a private copy for SQLite) for one student at a time; when a student
    is done, its grades are merged into the real gradebook before that copy serves another student.
    """
    target = sqlite_path(db_url)
    scratch = tempfile.mkdtemp(prefix="course-autograde-")
    free = queue.Queue()
    for slot in range(max(workers, 1)):
        if target is None:
            free.put(db_url)
        else:
            copy = os.path.join(scratch, f"gradebook-{slot}.db")
            shutil.copy(target, copy)
            free.put(sqlite_url(copy))

    def task(student: str):
        url = free.get()
        return grade_one(root, student, url, force), url

    outcomes = []
    try:
        with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool, \
                tqdm(total=len(students), desc="autograde", unit="student", disable=not progress) as bar:
            for future in as_completed([pool.submit(task, student) for student in students]):
                outcome, url = future.result()
                if target is not None and outcome.ok:
                    merge_student(url, db_url, ASSIGNMENT, outcome.student)
                free.put(url)
                outcomes.append(outcome)
                bar.set_postfix_str(f"{outcome.student}: {outcome.status} in {outcome.seconds:.0f} s")
                bar.update(1)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return sorted(outcomes, key=lambda o: o.student)
