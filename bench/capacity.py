"""What grading a course costs: seconds per submission per notebook on one worker, the speed-up of
``course autograde`` with 1, 2 and 4 worker processes on this machine, and the worker-hours of a course.

All ratios come from one run on one machine:

* serial   - plain ``nbgrader autograde hw2`` over N complete hw2_cnn submissions (nbgrader's own loop);
* workers  - ``course autograde`` (a local Dask cluster of W single-threaded worker processes) over the
             same N, for each W; speed-up = time with 1 worker / time with W, and the CPU-seconds the whole
             process tree used (user + system), which the machine's other load does not inflate;
* per notebook - one worker grading complete submissions of each notebook alone: seconds per submission.

Then a course of --students students: worker-hours (the per-notebook seconds added up), and the wall time
on a cluster of C workers at the parallel efficiency measured here with 2 workers.
Run: .venv/bin/python bench/capacity.py [--submissions 4] [--workers 1 2 4] [--students 1000]
"""

import os

from course.same_numbers import SAME_NUMBERS_ENV

os.environ.update(SAME_NUMBERS_ENV)  # before torch is imported: grade as the grader does

import argparse
import resource
import shutil
import sys
import tempfile
import time

from course.assignment import ASSIGNMENT
from course.dburl import course_db_url
from course.tools.autograde import autograde
from course.tools.course_folder import make_course
from course.tools.nbgrader_cmd import nbgrader
from course.tools.samples import Sample, available_notebooks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLUSTER_SIZES = (16, 64, 256)  # worker processes of the clusters whose wall time is estimated


def children_cpu() -> float:
    """CPU-seconds (user + system) of this process's finished children and their descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(action) -> tuple[float, float]:
    """(wall seconds, CPU-seconds of the processes it started) of ``action()``."""
    wall, cpu = time.perf_counter(), children_cpu()
    action()
    return time.perf_counter() - wall, children_cpu() - cpu


def submit(root: str, notebook: str, count: int) -> list[str]:
    """``count`` complete submissions of ``notebook`` alone, in a clean ``submitted/``; returns the students."""
    shutil.rmtree(os.path.join(root, "submitted"), ignore_errors=True)
    students = [f"{notebook}-{i}" for i in range(count)]
    for student in students:
        Sample(student, {notebook: None}, only={notebook}).submit(root)
    return students


def grade(root: str, students: list[str], workers: int) -> None:
    outcomes = autograde(root, students, course_db_url(root), workers=workers, force=True, progress=False)
    failed = [o.log for o in outcomes if not o.ok]
    if failed:
        raise SystemExit(f"grading failed, see {failed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=4, help="hw2_cnn submissions of the scaling runs")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--per-notebook", type=int, default=1, help="submissions per notebook of the one-worker runs")
    parser.add_argument("--students", type=int, default=1000)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-capacity-") as root:
        make_course(root, REPO)
        students = submit(root, "hw2_cnn", args.submissions)
        serial = measured(lambda: nbgrader(["autograde", ASSIGNMENT, "--force"], root,
                                           log_path=os.path.join(root, "serial.log")))
        print(f"\n{args.submissions} complete hw2_cnn submissions")
        print(f"{'run':<22} {'wall s':>8} {'CPU s':>8} {'speed-up':>9} {'vs serial':>10}")
        print(f"{'serial nbgrader':<22} {serial[0]:8.1f} {serial[1]:8.1f} {'':>9} {1:10.2f}", flush=True)
        runs = {}
        for workers in args.workers:
            runs[workers] = measured(lambda: grade(root, students, workers))
            wall, cpu = runs[workers]
            print(f"{f'course, {workers} worker(s)':<22} {wall:8.1f} {cpu:8.1f} {runs[args.workers[0]][0] / wall:9.2f} "
                  f"{serial[0] / wall:10.2f}", flush=True)
        per_notebook = {"hw2_cnn": runs[1][0] / args.submissions} if 1 in runs else {}
        for notebook in available_notebooks(root):
            if notebook not in per_notebook:
                students = submit(root, notebook, args.per_notebook)
                per_notebook[notebook] = measured(lambda: grade(root, students, 1))[0] / args.per_notebook
        print("\nseconds per submission on one worker: "
              + ", ".join(f"{name} {seconds:.1f}" for name, seconds in per_notebook.items())
              + f"; a student: {sum(per_notebook.values()):.1f}")
        hours = args.students * sum(per_notebook.values()) / 3600
        efficiency = runs[1][0] / runs[2][0] / 2 if {1, 2} <= set(runs) else 1.0
        print(f"{args.students} students: {hours:.1f} worker-hours; at the {efficiency:.0%} parallel efficiency "
              "of 2 workers here: " + ", ".join(f"{size} workers {hours / (size * efficiency) * 60:.0f} min"
                                                 for size in CLUSTER_SIZES))
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    sys.exit(main())
