"""Autograde many submissions on a Dask cluster, safely for the gradebook.

One task per student (:mod:`course.tools.grading_task`) runs the course's protected ``nbgrader autograde``
on a worker, into a private gradebook; workers share no folder with this process. This process sends the
submissions, writes what comes back under ``autograded/`` and ``reports/``, and shows progress. The grades
reach the course's gradebook one whole student at a time, in one transaction: a PostgreSQL server is
written by the workers themselves; an SQLite file (one writer at a time) by this process, as each student
comes back. So an interrupted run keeps every finished student, a worker that dies costs a retry and never
a half-written student, and a rerun updates rows instead of adding them.
"""

import os
import shutil
import tempfile
import time
import traceback
import uuid
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from distributed import as_completed
from nbgrader.coursedir import CourseDirectory
from tqdm import tqdm

from course.assignment import ASSIGNMENT
from course.dburl import sqlite_path, sqlite_url, without_credentials
from course.pipeline.record import GradingRecord, read_records
from course.tools import cluster
from course.tools.bundle import course_bundle
from course.tools.gradebook import extensions, merge_student
from course.tools.settings import grading_data_root
from course.tools.grading_task import (BundleOnWorkers, CourseBundle, GradedSubmission, GradingTask, grade_on_worker,
                                       grading_records, read_tree, write_tree)

RETRIES = 1  # further tries of a task that raised (a gradebook server briefly out of reach); deaths: see cluster
# Tasks submitted per grading slot. Dask places a task with a resource restriction on a worker as soon as it is
# submitted (no scheduler-side queue), so a second task per slot may wait behind a busy worker while another
# idles until work stealing moves it; one per slot, the next sent as a result arrives, goes to the free worker.
IN_FLIGHT = 1


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
    log: str = ""  # the log file
    skipped: bool = False  # graded before and not submitted again since (a rerun without --force)
    worker: str = ""  # the machine that graded it

    @property
    def status(self) -> str:
        if not self.ok:
            return "FAILED (see log)"
        if self.skipped:
            return "already graded (--force grades again)"
        notes = [f"{self.grader_errors} grader error(s): manual review"] if self.grader_errors else []
        notes += [f"unreadable: {', '.join(self.unreadable)}"] if self.unreadable else []
        notes += [f"{self.restarts} kernel restart(s)"] if self.restarts else []
        return ", ".join(["graded", *notes])

    def add(self, records: list[GradingRecord]) -> "Outcome":
        """This outcome with the restarts, grader errors, unreadable files and points of ``records``."""
        for record in records:
            self.restarts += record.kernel_restarts
            self.grader_errors += len(record.grader_errors)
            if record.unreadable:
                self.unreadable.append(record.notebook)
            self.points += record.points
            self.max_points += record.max_points
        return self


def submission_folder(root: str, student: str) -> str:
    return os.path.join(root, "submitted", student, ASSIGNMENT)


def autograded_folder(root: str, student: str) -> str:
    return os.path.join(root, "autograded", student, ASSIGNMENT)


def log_path(root: str, student: str) -> str:
    return os.path.join(root, "reports", "logs", f"autograde-{student}.log")


def needs_grading(root: str, student: str) -> bool:
    """nbgrader's rule for a run without ``--force``: grade a student never graded, or whose submission is
    newer than its grading (by their ``timestamp.txt``)."""
    if not os.path.isdir(autograded_folder(root, student)):
        return True
    stamps = CourseDirectory()
    new = stamps.get_existing_timestamp(submission_folder(root, student))
    old = stamps.get_existing_timestamp(autograded_folder(root, student))
    return new is not None and old is not None and new > old


def write_log(root: str, student: str, text: str) -> str:
    path = log_path(root, student)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def store(root: str, db_url: str, graded: GradedSubmission) -> Outcome:
    """Write what a worker sent back into the course in ``root``: the autograded notebooks (replacing the
    previous ones), the grading records, the log, and with an SQLite gradebook the student's grades."""
    outcome = Outcome(graded.student, graded.ok, graded.seconds, log=write_log(root, graded.student, graded.log),
                      worker=graded.worker).add(graded.records)
    if not graded.ok:
        return outcome
    if graded.gradebook is not None:
        with tempfile.TemporaryDirectory() as scratch:
            private = os.path.join(scratch, "gradebook.db")
            with open(private, "wb") as f:
                f.write(graded.gradebook)
            merge_student(sqlite_url(private), db_url, ASSIGNMENT, graded.student)
    final = autograded_folder(root, graded.student)
    incoming = final + ".incoming"
    shutil.rmtree(incoming, ignore_errors=True)
    write_tree(incoming, graded.autograded)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(incoming, final)
    shutil.rmtree(os.path.join(grading_records(root), ASSIGNMENT, graded.student), ignore_errors=True)
    for record in graded.records:
        record.write(grading_records(root))
    return outcome


def lost(root: str, student: str, error: BaseException, seconds: float) -> Outcome:
    """The outcome of a task that failed on the cluster, with the error in the student's log."""
    text = (f"Grading {student} failed on the cluster and was given up: {error}\n\n"
            + "".join(traceback.format_exception(error)))
    return Outcome(student, False, seconds, log=write_log(root, student, text))


@contextmanager
def shared_bundle(client, bundle: CourseBundle):
    """The name under which every worker of ``client``'s cluster keeps ``bundle`` (:class:`BundleOnWorkers`),
    for as long as the context lasts."""
    plugin = BundleOnWorkers(bundle)
    client.register_plugin(plugin, name=plugin.name)
    try:
        yield plugin.name
    finally:
        with suppress(OSError):  # the cluster went away: its workers took the bundle with them
            client.unregister_worker_plugin(plugin.name)


def already_graded(root: str, student: str) -> Outcome:
    """The outcome of a student left as graded before."""
    return Outcome(student, True, 0.0, log=log_path(root, student), skipped=True).add(
        read_records(grading_records(root), ASSIGNMENT, student))


def autograde(root: str, students: list[str], db_url: str, workers: int = 1, force: bool = False,
              progress: bool = True, scheduler: str | None = None) -> list[Outcome]:
    """Grade ``students`` of the course in ``root`` into the gradebook ``db_url``; returns one outcome each,
    by student.

    Args:
        workers: worker processes of the cluster made on this machine (without ``scheduler``).
        force: grade again students graded before (otherwise only new or newer submissions are graded).
        progress: show a progress bar (and the Dask dashboard's address).
        scheduler: the address of a Dask scheduler (``tcp://HOST:PORT``) whose workers grade.
    """
    started = time.monotonic()
    pending = [s for s in students if force or needs_grading(root, s)]
    outcomes = [already_graded(root, s) for s in students if s not in pending]
    missing = [s for s in pending if not os.path.isdir(submission_folder(root, s))]
    outcomes += [Outcome(s, False, 0.0, log=write_log(root, s, f"No submission in {submission_folder(root, s)}."))
                 for s in missing]
    pending = [s for s in pending if s not in missing]
    if not pending:
        return sorted(outcomes, key=lambda o: o.student)
    server = None if sqlite_path(db_url) else without_credentials(db_url)
    with cluster.connect(scheduler, workers, db_url, dashboard=progress) as client, \
            shared_bundle(client, course_bundle(root, db_url, grading_data_root(root))) as bundle, \
            tqdm(total=len(pending), desc="autograde", unit="student", disable=not progress) as bar:
        if progress and client.dashboard_link:
            bar.write(f"Dask dashboard: {client.dashboard_link}")
        cluster.warm_up(client)
        run, extended, waiting = uuid.uuid4().hex[:8], extensions(db_url, ASSIGNMENT), iter(pending)
        in_flight, students = as_completed(), {}

        def feed() -> None:
            """Keep IN_FLIGHT tasks per grading slot of the cluster submitted; the other submissions wait here,
            not in the scheduler's memory."""
            while in_flight.count() < IN_FLIGHT * max(cluster.graders(client), 1):
                student = next(waiting, None)
                if student is None:
                    return
                task = GradingTask(student, read_tree(submission_folder(root, student)), server, extended.get(student))
                future = client.submit(grade_on_worker, task, bundle, key=f"grade-{student}-{run}",
                                       resources=cluster.GRADING, retries=RETRIES, pure=False)
                students[future.key] = student
                in_flight.add(future)

        feed()
        for future in in_flight:
            feed()  # the next student first: the worker that finished waits for nothing while this one is stored
            try:
                outcome = store(root, db_url, future.result())
            except Exception as error:  # the task's own error, KilledWorker, or a failed SQLite merge
                outcome = lost(root, students[future.key], error, time.monotonic() - started)
            outcomes.append(outcome)
            bar.set_postfix_str(f"{outcome.student}: {outcome.status} in {outcome.seconds:.0f} s")
            bar.update(1)
    return sorted(outcomes, key=lambda o: o.student)
