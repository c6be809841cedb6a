"""Helpers for the end-to-end tests: build a course folder, submit samples, grade them, read scores."""

import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import torch
from nbgrader.api import Gradebook

from course.grade.subject import Submission
from course.grade.weights import decode_weights
from course.tools.notebooks import grade_id, read
from course.tools.autograde import Outcome, autograde
from course.tools.cli import course_config
from course.tools import course_folder
from course.assignment import ASSIGNMENT
from course.tools.samples import Sample, submit_all
from sandboxed import REPO


SHARED_DATA = "COURSE_TEST_DATA"  # environment variable: the grading data every test course shares (conftest)


_RUN_AHEAD: list[Sample] = []  # trained samples the collected modules use, in the order they were collected


def run_ahead(samples: list[Sample]) -> list[Sample]:
    """``samples``, whose students' own runs (the trained ones') the session makes one after another in the
    background from its start (conftest's ``student_runs``), on the core the unit tests leave free: the
    module that grades them finds the runs made. Call it where the module is collected; returns ``samples``."""
    _RUN_AHEAD.extend(sample for sample in samples if sample.trained)
    return samples


def runs_ahead() -> list[Sample]:
    return list(_RUN_AHEAD)


def make_course(root: Path) -> Path:
    """A throw-away course folder in ``root`` with the release generated (see course_folder), sharing the
    session's grading data (the CIFAR-10 stand-in is generated once)."""
    course_folder.make_course(str(root), str(REPO), os.environ.get(SHARED_DATA))
    return root


@dataclass
class Graded:
    """One student's grading: the tool's outcome and the gradebook's automatic score per graded cell."""

    outcome: Outcome
    scores: dict[str, dict[str, float | None]]  # notebook -> grade id -> auto score
    maxima: dict[str, dict[str, float]]

    def score(self, notebook: str, grade_id: str):
        return self.scores[notebook][grade_id]

    def full(self, notebook: str, grade_id: str) -> bool:
        return self.scores[notebook][grade_id] == self.maxima[notebook][grade_id]

    def total(self, notebook: str) -> float:
        return sum(v or 0 for v in self.scores[notebook].values())


def code_solutions_before(notebook: str, heading: str) -> set[str]:
    """Grade ids of the code solution cells of the source ``notebook`` above its markdown cell that starts
    with ``heading`` (``"## 5."``: the answers of sections 1 to 4), read from the notebook itself."""
    nb = read(os.path.join(REPO, "source", ASSIGNMENT, f"{notebook}.ipynb"))
    ids = set()
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith(heading):
            return ids
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            ids.add(grade_id(cell))
    raise ValueError(f"{notebook} has no heading {heading!r}")


def autograded_cells(root: Path, notebook: str) -> dict[str, float]:
    """Grade id -> max points of the autograded (test) cells of ``notebook``."""
    with Gradebook(course_config(str(root)).CourseDirectory.db_url) as gradebook:
        found = gradebook.find_notebook(notebook, ASSIGNMENT)
        answers = {cell.name for cell in found.solution_cells}
        return {cell.name: cell.max_score for cell in found.grade_cells
                if cell.cell_type == "code" and cell.name not in answers}


def manual_cells(root: Path, notebook: str) -> dict[str, float]:
    """Grade id -> max points of the cells of ``notebook`` a TA grades (graded answer cells)."""
    with Gradebook(course_config(str(root)).CourseDirectory.db_url) as gradebook:
        found = gradebook.find_notebook(notebook, ASSIGNMENT)
        answers = {cell.name for cell in found.solution_cells}
        return {cell.name: cell.max_score for cell in found.grade_cells if cell.name in answers}


def formgrader_page(root: Path, student: str, notebook: str) -> str:
    """The page the formgrader shows a TA for a student's autograded notebook: nbgrader's own exporter
    settings and template (``formgrade``), as its submission handler renders it."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers

    exporter = HTMLExporter(template_name="formgrade", extra_template_basedirs=[handlers.template_path])
    resources = {"assignment_id": ASSIGNMENT, "notebook_id": notebook, "submission_id": "s", "index": 0, "total": 1,
                 "base_url": "", "student": student, "last_name": "", "first_name": "", "notebook_path": ""}
    html, _ = exporter.from_filename(os.path.join(root, "autograded", student, ASSIGNMENT, f"{notebook}.ipynb"),
                                     resources=resources)
    return html


def grade(root: Path, samples: list[Sample], workers: int = 2) -> dict[str, Graded]:
    """Submit ``samples``, autograde them with the course's parallel tool, and read the gradebook."""
    submit_all(str(root), samples)
    url = course_config(str(root)).CourseDirectory.db_url
    outcomes = autograde(str(root), [s.student for s in samples], url, workers=workers, force=True, progress=False)
    graded = {}
    with Gradebook(url) as gradebook:
        for outcome in outcomes:
            scores, maxima = {}, {}
            for notebook in gradebook.find_assignment(ASSIGNMENT).notebooks:
                try:
                    submitted = gradebook.find_submission_notebook(notebook.name, ASSIGNMENT, outcome.student)
                except Exception:  # nbgrader's MissingEntry: the notebook was not graded
                    continue
                scores[notebook.name] = {g.name: g.auto_score for g in submitted.grades}
                maxima[notebook.name] = {g.name: g.max_score for g in submitted.grades}
            graded[outcome.student] = Graded(outcome, scores, maxima)
    return graded


def autograded_notebook(root: Path, student: str, notebook: str):
    return nbformat.read(os.path.join(root, "autograded", student, ASSIGNMENT, f"{notebook}.ipynb"), as_version=4)


def submitted_notebook(root: Path, student: str, notebook: str):
    return nbformat.read(os.path.join(root, "submitted", student, ASSIGNMENT, f"{notebook}.ipynb"), as_version=4)


def cell_text(nb, grade_id: str) -> str:
    """Everything a graded cell printed (the feedback a student reads for that part)."""
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def weights_encoder(notebook: str) -> dict:
    """The namespace of the notebook's submit_weights cell, its definitions only (encode_weights, ...)."""
    cell = next(c for c in read(str(REPO / "source" / ASSIGNMENT / f"{notebook}.ipynb")).cells if grade_id(c) == "submit_weights")
    definitions = cell.source[:cell.source.rindex("\nsubmit_weights(")]
    namespace = {"torch": torch}
    exec(compile(definitions, "<cell submit_weights>", "exec"), namespace)
    return namespace


def submission(notebook: str, data_root: str, dtype=torch.float16, **models) -> Submission:
    """What grading gets from a notebook whose submit_weights cell stored ``models``: encoded by the
    notebook's own code, decoded by the grader's."""
    payload = weights_encoder(notebook)["encode_weights"](models, dtype)
    return Submission(decode_weights(payload), "", data_root)

POSTGRES_BIN = "/usr/lib/postgresql/15/bin"  # Debian's postgresql-15 (system-packages.txt)


@dataclass
class PostgresServer:
    """A running PostgreSQL server of the tests: its gradebook URL (password included) and where it listens."""

    url: str
    port: int
    socket_dirs: list[str]

    def accepts_connections(self) -> None:
        """Connect to each of its addresses, TCP and unix sockets (raises OSError where one is closed)."""
        socket.create_connection(("127.0.0.1", self.port), timeout=10).close()
        for folder in self.socket_dirs:
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(os.path.join(folder, f".s.PGSQL.{self.port}"))


@contextmanager
def postgres_server(password: str):
    """A real PostgreSQL server, as the ``postgres`` user, listening on 127.0.0.1 and on unix sockets in a
    folder of its own and in /var/run/postgresql (the default); superuser ``grader`` with ``password``.
    Stopped, and its folder removed, when the block ends, also on failure."""
    folder = tempfile.mkdtemp(prefix="course-test-postgres-")
    shutil.chown(folder, "postgres", "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sockets = [folder] + ["/var/run/postgresql"] * os.path.isdir("/var/run/postgresql")
    data = os.path.join(folder, "data")
    as_postgres = {"user": "postgres", "group": "postgres", "extra_groups": [], "cwd": folder,
                   "check": True, "capture_output": True}
    try:
        with open(os.path.join(folder, "password"), "w") as f:
            f.write(password)
        shutil.chown(os.path.join(folder, "password"), "postgres", "postgres")
        subprocess.run([f"{POSTGRES_BIN}/initdb", "-D", data, "-U", "grader", "--auth=scram-sha-256",
                        f"--pwfile={folder}/password"], **as_postgres)
        subprocess.run([f"{POSTGRES_BIN}/pg_ctl", "-D", data, "-w", "-l", f"{folder}/log", "start", "-o",
                        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{','.join(sockets)}'"],
                       **as_postgres)
        yield PostgresServer(f"postgresql://grader:{password}@127.0.0.1:{port}/postgres", port, sockets)
    finally:
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            subprocess.run([f"{POSTGRES_BIN}/pg_ctl", "-D", data, "-m", "immediate", "stop"],
                           **{**as_postgres, "check": False})
        shutil.rmtree(folder, ignore_errors=True)
