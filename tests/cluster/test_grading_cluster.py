"""Does grading on a Dask cluster into a PostgreSQL gradebook give what serial nbgrader gives with SQLite,
lose nothing when a worker dies, and keep student code away from the gradebook and the grader's secrets?

One batch for the whole module: four real hw2_cnn submissions (complete, partial, buggy, Colab round-tripped)
and an intruder whose extra cell hunts for secrets and tries to reach the gradebook server, graded by
``course.tools.autograde`` on a local Dask cluster of two worker processes (``scheduler=``: as on a real
cluster) into a real PostgreSQL server, while the same five are graded by a serial ``nbgrader autograde``
with SQLite in a copy of the course. A worker process is killed (SIGKILL) while it grades.
"""

import datetime
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil
import pytest
from distributed import Client, LocalCluster
from nbgrader.api import Gradebook
from sqlalchemy import create_engine, text

from course.assignment import ASSIGNMENT
from course.dburl import DB_URL_ENV, without_credential_env
from course.pipeline.flag import FlagForInstructor
from course.pipeline.record import COURSE_RESOURCES
from course.tools import cluster
from course.tools.autograde import Outcome, autograde
from course.tools.cli import main
from course.tools.db import Server, local_worker_credentials
from course.tools.export import write_grades_csv
from course.tools.gradebook import extensions, grant
from course.tools.nbgrader_cmd import nbgrader
from course.tools.notebooks import read
from course.tools.samples import DEMO_BUGS, Sample, submit_all
from support import autograded_cells, autograded_notebook, code_solutions_before, make_course, run_ahead

NOTEBOOK = "hw2_cnn"
ONLY = {NOTEBOOK}
SECTIONS_1_TO_4 = code_solutions_before(NOTEBOOK, "## 5.")
PARTIAL = {"conv_output_size", "conv_layer_cost", "answers_output_size", "conv2d_forward", "worked_c", "pooling"}
LONG_GRADINGS = {"complete", "buggy"}  # the worker killed is one grading these: it is surely mid-way
KILL_AFTER = 10  # seconds a grading kernel has run student code before its worker is killed
EXTENSION = datetime.timedelta(days=2)
CANARY_ENV = "GRADER_API_TOKEN"  # a secret of the grading process that is not the gradebook's
HUNT = """
import glob, json, os, re, socket
print("ENVIRON", json.dumps(dict(os.environ), sort_keys=True))
seen = json.dumps(dict(os.environ))
pid = os.getppid()
while pid > 1:
    for what in ("environ", "cmdline"):
        try:
            found = open(f"/proc/{pid}/{what}", "rb").read().replace(b"\\0", b" ").decode(errors="replace")
            print("PROC", pid, what, found)
            seen += found
        except OSError as error:
            print("PROC", pid, what, "refused:", type(error).__name__)
    pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
for path in [os.path.expanduser("~/.pgpass"), "/root/.pgpass", *glob.glob("/tmp/*/pgpass")] + PASSFILES:
    try:
        print("FILE", path, open(path).read())
    except OSError as error:
        print("FILE", path, "refused:", type(error).__name__)
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=5).close()
    print("CONNECTED tcp")
except OSError as error:
    print("tcp refused:", type(error).__name__)
import psycopg
urls = {u.replace("+psycopg", "") for u in re.findall(r"postgresql\\+psycopg://[^\\s\\"']+", seen)}
for conninfo in [*urls, f"host=127.0.0.1 port={PORT} dbname=gradebook user=grader"]:
    try:
        psycopg.connect(conninfo, connect_timeout=5).close()
        print("CONNECTED psycopg")
    except Exception as error:
        print("psycopg refused:", type(error).__name__)
for path in SOCKETS:
    try:
        unix = socket.socket(socket.AF_UNIX)
        unix.connect(path)
        print("CONNECTED unix", path)
    except OSError as error:
        print("unix refused:", path, type(error).__name__)
"""


def intruder_notebook(root: Path, server) -> str:
    """The release of hw2_cnn with the hunt as a new cell after the first code cell."""
    nb = read(root / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    sockets = [os.path.join(folder, f".s.PGSQL.{server.port}")
               for folder in (server.folder, server.data, "/tmp", "/var/run/postgresql")]  # where PostgreSQL puts them
    hunt = HUNT.replace("PORT", str(server.port)).replace("PASSFILES", repr([server.passfile])) \
        .replace("SOCKETS", repr(sockets))
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(first + 1, nbformat.v4.new_code_cell(hunt))
    return nbformat.writes(nb)


SAMPLES = run_ahead([Sample("complete", {NOTEBOOK: None}, only=ONLY, trained=True),  # its own run: weights, as from Colab
                     Sample("partial", {NOTEBOOK: PARTIAL}, only=ONLY),
                     Sample("buggy", {NOTEBOOK: None}, bugs=[b for b in DEMO_BUGS if b.notebook == NOTEBOOK], only=ONLY),
                     Sample("colab", {NOTEBOOK: SECTIONS_1_TO_4}, through_colab=True, only=ONLY)])


def submit(root: Path, intruder: str) -> list[str]:
    submit_all(str(root), SAMPLES)
    folder = root / "submitted" / "intruder" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / f"{NOTEBOOK}.ipynb").write_text(intruder)
    return [s.student for s in SAMPLES] + ["intruder"]


@dataclass
class Killed:
    """The worker process killed while it graded, and the grading processes it had started."""

    student: str
    worker: int
    graders: list[int]  # its warm nbgrader and the nbgrader autograde forked from it
    kernels: list[int]


def grading_process(proc: psutil.Process, workers: set[int]) -> tuple[str, int] | None:
    """(student, worker pid) if ``proc`` is a worker's ``nbgrader autograde`` (forked by the worker's warm
    nbgrader, in the private course folder ``grading-<student>-...``), else None."""
    folder = os.path.basename(proc.cwd())
    worker = next((p.pid for p in proc.parents() if p.pid in workers), None)
    if not folder.startswith("grading-") or worker is None or proc.parent().pid in workers:
        return None
    return folder.removeprefix("grading-").rsplit("-", 1)[0], worker


def kill_a_grading_worker(workers: set[int], stop: threading.Event, found: list) -> None:
    """Wait until a worker in ``workers`` runs ``nbgrader autograde`` of a long grading whose kernel has run
    student code for KILL_AFTER seconds, then kill that worker with SIGKILL (recorded in ``found``)."""
    while not stop.wait(0.5):
        for proc in psutil.process_iter():
            try:
                grading = grading_process(proc, workers)
                kernels = [k for k in proc.children(recursive=True) if "course.sandbox.kernel" in k.cmdline()]
            except psutil.Error:
                continue
            if grading and grading[0] in LONG_GRADINGS and any(time.time() - k.create_time() > KILL_AFTER for k in kernels):
                student, worker = grading
                os.kill(worker, signal.SIGKILL)
                found.append(Killed(student, worker, [proc.ppid(), proc.pid], [k.pid for k in kernels]))
                return


@dataclass
class Batch:
    """The module's batch, graded once."""

    server: Server
    url: str  # the gradebook URL of the instructor's process (`course db url`: it names the password file)
    password: str
    canary: str
    cluster: str  # the scheduler's address
    pg_course: Path
    sqlite_course: Path
    students: list[str]
    outcomes: dict[str, Outcome]
    baseline: int  # the exit status of the serial nbgrader autograde
    killed: list[Killed] = field(default_factory=list)


def password_of(server) -> str:
    return Path(server.passfile).read_text().strip().rsplit(":", 1)[1]


@pytest.fixture(scope="module")
def batch(gradebook_server, course_dir, tmp_path_factory):
    server = gradebook_server
    url = server.url
    canary = secrets.token_hex(16)
    with pytest.MonkeyPatch.context() as env:
        env.setenv(DB_URL_ENV, url)  # the instructor's process names the gradebook (`course db url`)
        env.setenv(CANARY_ENV, canary)
        pg_course = make_course(tmp_path_factory.mktemp("pg-course"))  # generate_assignment into PostgreSQL
        sqlite_course = tmp_path_factory.mktemp("sqlite") / "course"
        shutil.copytree(course_dir, sqlite_course, ignore=shutil.ignore_patterns("submitted", "autograded", "reports"))
        intruder = intruder_notebook(pg_course, server)
        students = submit(pg_course, intruder)
        submit(sqlite_course, intruder)
        for gradebook in (url, sqlite_url_of(sqlite_course)):
            grant(gradebook, ASSIGNMENT, "colab", EXTENSION)  # travels with the task: nbgrader's late rules need it
        with open(sqlite_course / "serial.log", "w") as log, \
                subprocess.Popen([str(Path(sys.executable).parent / "nbgrader"), "autograde", ASSIGNMENT],
                                 cwd=sqlite_course, env=without_credential_env(dict(os.environ)), stdout=log,
                                 stderr=subprocess.STDOUT) as serial, \
                local_worker_credentials(url) as credentials, \
                LocalCluster(n_workers=2, threads_per_worker=1, processes=True, resources=cluster.GRADING,
                             env=credentials, dashboard_address=None) as local, Client(local) as client:
            workers = set(client.run(os.getpid).values())
            stop, killed = threading.Event(), []
            killer = threading.Thread(target=kill_a_grading_worker, args=(workers, stop, killed))
            killer.start()
            try:
                outcomes = autograde(str(pg_course), students, url, force=True, progress=False,
                                     scheduler=local.scheduler_address)
            finally:
                stop.set()
                killer.join()
            yield Batch(server, url, password_of(server), canary, local.scheduler_address, pg_course, sqlite_course,
                        students, {o.student: o for o in outcomes}, serial.wait(), killed)


def snapshot(db_url: str, students: list[str]) -> dict:
    """Everything autograding writes, per student: scores, manual flags, comments, flagged notebooks."""
    rows = {}
    with Gradebook(db_url) as gradebook:
        for student in students:
            for notebook in gradebook.find_submission(ASSIGNMENT, student).notebooks:
                rows[(student, notebook.name, "flagged")] = notebook.flagged
                for grade in notebook.grades:
                    rows[(student, notebook.name, grade.name)] = (grade.auto_score, grade.manual_score,
                                                                  grade.needs_manual_grade)
                for comment in notebook.comments:
                    rows[(student, notebook.name, "comment " + comment.name)] = comment.auto_comment
    return rows


def row_counts(db_url: str, students: list[str]) -> dict[str, tuple[int, int, int, int]]:
    """Per student of ``students``: submissions, submitted notebooks, grade rows, distinct (notebook, cell)
    grade rows."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return {student: tuple(counts) for student, *counts in connection.execute(text(
                "select sa.student_id, count(distinct sa.id), count(distinct sn.id), count(g.id), "
                "count(distinct sn.notebook_id || '/' || g.cell_id) from submitted_assignment sa "
                "join submitted_notebook sn on sn.assignment_id = sa.id join grade g on g.notebook_id = sn.id "
                "group by sa.student_id")) if student in students}
    finally:
        engine.dispose()


def sqlite_url_of(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


def test_does_the_cluster_give_exactly_the_scores_of_serial_nbgrader_with_sqlite(batch):
    assert batch.baseline == 0, (batch.sqlite_course / "serial.log").read_text()[-3000:]
    assert all(o.ok and not o.skipped for o in batch.outcomes.values()), \
        {s: Path(o.log).read_text()[-2000:] for s, o in batch.outcomes.items() if not o.ok}
    graded = snapshot(batch.url, batch.students)
    assert graded == snapshot(sqlite_url_of(batch.sqlite_course), batch.students)
    assert extensions(batch.url, ASSIGNMENT) == {"colab": EXTENSION}
    cells = autograded_cells(batch.sqlite_course, NOTEBOOK)
    assert sum(graded[("complete", NOTEBOOK, g)][0] for g in cells) == sum(cells.values())
    assert sum(graded[("buggy", NOTEBOOK, g)][0] for g in cells) < sum(cells.values())


def test_does_a_worker_killed_while_it_grades_cost_no_grade_and_no_duplicate_row(batch):
    [killed] = batch.killed
    assert batch.outcomes[killed.student].ok
    counts = row_counts(batch.url, batch.students)
    assert counts == row_counts(sqlite_url_of(batch.sqlite_course), batch.students)
    assert all(grades == distinct and submissions == 1 for submissions, _, grades, distinct in counts.values())
    left = []
    for pid in [*killed.graders, *killed.kernels]:
        try:
            left.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    alive = psutil.wait_procs(left, timeout=20)[1]
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], "the killed worker left graders running"


def test_does_a_rerun_change_nothing(batch):
    before = snapshot(batch.url, batch.students)
    again = autograde(str(batch.pg_course), batch.students, batch.url, force=False, progress=False,
                      scheduler=batch.cluster)
    assert all(o.ok and o.skipped for o in again) and snapshot(batch.url, batch.students) == before
    with Gradebook(batch.url) as gradebook:
        gradebook.find_grade("written_training", NOTEBOOK, ASSIGNMENT, "partial").manual_score = 1.5
        gradebook.db.commit()
    counts = row_counts(batch.url, batch.students)
    [forced] = autograde(str(batch.pg_course), ["partial"], batch.url, force=True, progress=False,
                         scheduler=batch.cluster)
    assert forced.ok and not forced.skipped and row_counts(batch.url, batch.students) == counts
    written = ("partial", NOTEBOOK, "written_training")  # the TA's score stays, and so does the need to look
    assert snapshot(batch.url, batch.students) == {**before, written: (before[written][0], 1.5, True)}


def hunt_output(batch) -> str:
    nb = autograded_notebook(batch.pg_course, "intruder", NOTEBOOK)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "PROC" in c.source)
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def everything_written(batch) -> str:
    """Every file the run wrote for the intruder: autograded notebooks, grading records, the log."""
    files = [*(batch.pg_course / "autograded" / "intruder").rglob("*"), *(batch.pg_course / "reports").rglob("*")]
    return "\n".join(p.read_text(errors="replace") for p in files if p.is_file() and "intruder" in str(p))


def test_does_student_code_never_see_the_gradebooks_password(batch):
    output = hunt_output(batch)
    assert "ENVIRON" in output and "tcp refused" in output  # the hunt ran to its end
    assert batch.password not in everything_written(batch)


def test_does_student_code_see_no_other_secret_of_the_grading_process(batch):
    """The canary is in the environment of the worker processes. It reaches the kernel as a copy of the grading
    process's environment until the kernel's environment is an allow-list (course/pipeline/workspace.py), and
    through /proc/<pid>/environ of the kernel's ancestors until the sandbox hides other processes (course/sandbox)."""
    assert batch.canary not in everything_written(batch)


def test_can_student_code_not_connect_to_the_gradebook_server(batch):
    output = hunt_output(batch)
    assert "tcp refused" in output and "psycopg refused" in output
    assert "CONNECTED" not in output


def test_does_the_honest_student_beside_the_intruder_keep_full_marks(batch):
    cells = autograded_cells(batch.sqlite_course, NOTEBOOK)
    with Gradebook(batch.url) as gradebook:
        assert {g: gradebook.find_grade(g, NOTEBOOK, ASSIGNMENT, "complete").auto_score for g in cells} == cells


def test_do_nbgrader_and_the_course_tools_work_on_the_postgresql_gradebook(batch, tmp_path, capsys, monkeypatch):
    before = snapshot(batch.url, ["partial"])
    counts = row_counts(batch.url, batch.students)
    nbgrader(["autograde", ASSIGNMENT, "--student", "partial", "--force"], str(batch.pg_course))  # COURSE_DB_URL set
    assert snapshot(batch.url, ["partial"]) == before and row_counts(batch.url, batch.students) == counts
    rows = tmp_path / "grades.csv"
    write_grades_csv(batch.url, str(rows))
    assert [line.split(",")[0] for line in rows.read_text().splitlines()[1:]] == sorted(batch.students)
    with Gradebook(batch.url) as gradebook:
        nb = nbformat.v4.new_notebook()
        info = {"db_url": batch.url, "notebook": NOTEBOOK, "assignment": ASSIGNMENT, "student": "partial"}
        failed = {"grader_errors": ["test_conv2d_forward"]}
        FlagForInstructor().preprocess(nb, {"nbgrader": info, COURSE_RESOURCES: failed})
        gradebook.db.expire_all()
        flagged = gradebook.find_grade("test_conv2d_forward", NOTEBOOK, ASSIGNMENT, "partial")
        assert flagged.auto_score is None and flagged.needs_manual_grade
    monkeypatch.chdir(os.getcwd())  # the command moves into the course folder; back afterwards
    assert main(["--root", str(batch.pg_course), "db", "url", "--folder", batch.server.folder]) == 0
    assert capsys.readouterr().out.strip() == batch.server.url
