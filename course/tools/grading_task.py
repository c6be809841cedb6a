"""One student's grading as a task a worker on any machine can run: no folder is shared with the instructor.

The task carries the student's submitted files; the course's bundle (sent to each worker once) carries the
small course files nbgrader needs: ``nbgrader_config.py``, the release notebooks (they stand in for an
unreadable submission), the assignment's source folder (its notebooks hold the TAs' rubrics), the reference
run the rubrics show, the late policy's extensions file, and a gradebook template with the assignment's
structure. Workers are the course's own machines: they hold the graders and the reference solutions anyway,
and a student's kernel sees none of it. The worker lays them out as a private course folder, runs the protected
``nbgrader autograde`` there (forked from the worker's warm nbgrader, :mod:`course.tools.warm_nbgrader`) into a
private SQLite copy of the template, and returns the autograded notebooks, the grading records and the log.
With a gradebook server, the worker then merges the student into it in one transaction (the task names the
server without credentials: a worker has its own, the libpq way); otherwise the private gradebook goes back
to the instructor's process, which merges it.
"""

import datetime
import hashlib
import os
import shutil
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from functools import cache

from distributed import get_worker
from distributed.diagnostics.plugin import WorkerPlugin

import course
from course.assignment import ASSIGNMENT, NOTEBOOKS
from course.data import grading as grading_data
from course.dburl import SQLITE_FILE, sqlite_url
from course.pipeline.record import GradingRecord, read_records
from course.tools.nbgrader_cmd import grading_environment
from course.tools.warm_nbgrader import run_warm

CONFIG = "nbgrader_config.py"
GRADEBOOK = SQLITE_FILE  # the private gradebook, where nbgrader_config.py looks by default
LOG = "autograde.log"
DATA_CACHE = "course-grading-data"  # in the machine's temporary folder: made once, read by every grading there
WORKER_DATA_ENV = "COURSE_GRADING_DATA"  # on a worker machine: the folder `course data fetch --folder` filled


@dataclass(frozen=True)
class FileCopy:
    """A file's content and permission bits, to be written again elsewhere."""

    data: bytes
    mode: int


def read_tree(folder: str, keep=lambda relative: True) -> dict[str, FileCopy]:
    """Every file under ``folder`` whose path relative to it passes ``keep``, by that path (none if there
    is no such folder)."""
    files = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(parent, name)
            relative = os.path.relpath(path, folder)
            if keep(relative):
                with open(path, "rb") as f:
                    files[relative] = FileCopy(f.read(), os.stat(path).st_mode & 0o777)
    return files


def write_tree(folder: str, files: dict[str, FileCopy]) -> None:
    """Write ``files`` (as :func:`read_tree` returns them) under ``folder``."""
    for relative, copy in files.items():
        path = os.path.join(folder, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(copy.data)
        os.chmod(path, copy.mode)


@cache
def package_fingerprint() -> str:
    """A digest of the sources of the ``course`` package this process runs (graders, pipeline, config helpers)."""
    digest = hashlib.sha256()
    package = os.path.dirname(course.__file__)
    for parent, folders, names in sorted(os.walk(package)):
        folders[:] = sorted(f for f in folders if f != "__pycache__")
        for name in sorted(n for n in names if n.endswith(".py")):
            path = os.path.join(parent, name)
            digest.update(os.path.relpath(path, package).encode() + b"\0")
            with open(path, "rb") as f:
                digest.update(f.read() + b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class CourseBundle:
    """The course files a worker needs to grade any student, made once per run by the instructor's process."""

    package: str  # package_fingerprint() of the instructor's course package: workers must run the same
    files: dict[str, FileCopy]  # course-relative path -> file: the config, the release, the source, the reference run
    template: bytes  # an SQLite gradebook with the assignment's structure and no student
    data_root: str  # the course's grading data folder on the instructor's machine
    data_version: str  # which dataset it holds (course.data.grading.dataset_version): workers grade on the same


def grading_records(root: str) -> str:
    """The folder of the grading records of the course in ``root`` (``GuardedExecute.record_dir``)."""
    return os.path.join(root, "reports", "grading")


@dataclass(frozen=True)
class GradingTask:
    """One student to grade: the submitted files, and where the grades go."""

    student: str
    submission: dict[str, FileCopy]  # the files of submitted/<student>/<assignment>/
    gradebook: str | None  # a gradebook server (URL without credentials) the worker merges into; None: return it
    extension: datetime.timedelta | None = None  # the student's extension of the due date, if any


@dataclass
class GradedSubmission:
    """What a worker sends back for one student."""

    student: str
    ok: bool  # nbgrader graded the submission (a student's broken code still grades: it scores zero)
    seconds: float
    worker: str  # the machine that graded it
    log: str  # nbgrader's output
    autograded: dict[str, FileCopy] = field(default_factory=dict)  # autograded/<student>/<assignment>/
    records: list[GradingRecord] = field(default_factory=list)
    gradebook: bytes | None = None  # the private gradebook with the student's grades, unless merged on the server


class WrongCoursePackage(RuntimeError):
    """A worker runs other graders than the instructor's process."""


class MissingGradingData(RuntimeError):
    """A worker has not the dataset the instructor's course grades on (CIFAR-10)."""


class GradebookUnreachable(RuntimeError):
    """A worker graded a student but could not write the grades to the gradebook server."""


class BundleOnWorkers(WorkerPlugin):
    """A run's course bundle, kept by every worker of the cluster: Dask sends a worker plugin to each worker,
    and again to one that joins or restarts later. A grading task then names the bundle instead of depending
    on it as data, which would send every task to the workers that hold the data (Dask's placement chooses
    among them first), leaving the others idle."""

    def __init__(self, bundle: CourseBundle):
        self.bundle = bundle
        self.name = f"course-bundle-{uuid.uuid4().hex}"


def grade_on_worker(task: GradingTask, bundle: str) -> GradedSubmission:
    """:func:`grade_submission` of ``task`` with the course bundle this Dask worker keeps under the name
    ``bundle`` (:class:`BundleOnWorkers`)."""
    plugin = get_worker().plugins.get(bundle)
    if not isinstance(plugin, BundleOnWorkers):
        raise WrongCoursePackage(f"{socket.gethostname()} could not load the course bundle of this run: install the "
                                 "course package (the instructor's commit) on every worker machine.")
    return grade_submission(task, plugin.bundle)


def scratch_parent() -> str | None:
    """Where a worker makes its private course folders: the Dask worker's own folder (which Dask clears
    when a worker died), or the temporary folder outside a worker."""
    try:
        return get_worker().local_directory
    except ValueError:
        return None


def worker_data_root(bundle: CourseBundle) -> str:
    """The grading data folder this worker uses: ``$COURSE_GRADING_DATA``, else the course's own folder when
    this machine has it (a worker beside the instructor), else a stand-in made once in the temporary folder;
    the first that holds the dataset the course grades on.

    Raises:
        MissingGradingData: none does (the course grades on CIFAR-10, this worker has none).
    """
    for folder in (os.environ.get(WORKER_DATA_ENV), bundle.data_root, os.path.join(tempfile.gettempdir(), DATA_CACHE)):
        if folder and (os.path.isdir(folder) or folder.endswith(DATA_CACHE)) \
                and grading_data.dataset_version(folder) == bundle.data_version:
            return folder
    raise MissingGradingData(f"{socket.gethostname()} has no {bundle.data_version} to grade on: run "
                             f"`course data fetch --folder DIR` there and start the worker with {WORKER_DATA_ENV}=DIR.")


def gradebook():
    """:mod:`course.tools.gradebook`, imported when a worker first writes a gradebook beyond its private copy
    (a student's extension, a gradebook server): it imports nbgrader, half a second of a worker's start that a
    worker grading for an SQLite course never needs (its warm nbgrader has its own)."""
    from course.tools import gradebook

    return gradebook


def graded_notebooks(submission: dict[str, FileCopy]) -> tuple[str, ...]:
    """The notebooks of the assignment that ``autograde`` grades in ``submission`` (those it holds)."""
    return tuple(name for name in NOTEBOOKS if f"{name}.ipynb" in submission)


def grade_submission(task: GradingTask, bundle: CourseBundle) -> GradedSubmission:
    """Grade ``task``'s student on this machine with the course's protected ``nbgrader autograde`` (see the
    module docstring).

    Raises:
        WrongCoursePackage: this machine's ``course`` package differs from the instructor's.
        MissingGradingData: this machine has not the course's grading dataset.
        GradebookUnreachable: the grades could not be written to the gradebook server (then nothing was).
    """
    if bundle.package != package_fingerprint():
        raise WrongCoursePackage(f"{socket.gethostname()} runs another version of the course package "
                                 f"({package_fingerprint()}, the instructor's is {bundle.package}): install the same "
                                 "commit on every worker machine.")
    started = time.monotonic()
    root = tempfile.mkdtemp(prefix=f"grading-{task.student}-", dir=scratch_parent())
    try:
        write_tree(root, bundle.files)
        with open(os.path.join(root, GRADEBOOK), "wb") as f:
            f.write(bundle.template)
        write_tree(os.path.join(root, "submitted", task.student, ASSIGNMENT), task.submission)
        private = sqlite_url(os.path.join(root, GRADEBOOK))
        if task.extension is not None:
            gradebook().grant(private, ASSIGNMENT, task.student, task.extension)
        data = worker_data_root(bundle)
        result = run_warm(["autograde", ASSIGNMENT, "--student", task.student, "--force",
                           f"--CourseDirectory.db_url={private}", f"--GuardedExecute.data_root={data}"],
                          root, os.path.join(root, LOG), grading_environment(), graded_notebooks(task.submission))
        graded = GradedSubmission(task.student, result.returncode == 0, 0.0, socket.gethostname(),
                                  open(os.path.join(root, LOG)).read())
        autograded = os.path.join(root, "autograded", task.student, ASSIGNMENT)
        graded.autograded = read_tree(autograded) if os.path.isdir(autograded) else {}
        graded.records = read_records(grading_records(root), ASSIGNMENT, task.student)
        if graded.ok and task.gradebook:
            try:
                gradebook().merge_student(private, task.gradebook, ASSIGNMENT, task.student)
            except Exception as error:
                raise GradebookUnreachable(
                    f"{socket.gethostname()} graded {task.student} but could not write the grades to {task.gradebook}: "
                    f"{error}. A worker logs in with its own password: a line host:port:database:role:password in "
                    "~/.pgpass or in the file $PGPASSFILE names (mode 600), or $PGPASSWORD.") from error
        elif graded.ok:
            with open(os.path.join(root, GRADEBOOK), "rb") as f:
                graded.gradebook = f.read()
        graded.seconds = time.monotonic() - started
        return graded
    finally:
        shutil.rmtree(root, ignore_errors=True)
