"""How long grading takes, against baselines measured in the same session.

For every notebook of the release, on the complete sample submission:

* plain      - the submitted notebook executed by nbclient (grading mode, no hidden tests);
* floor      - an empty notebook that only imports torch (kernel start and import);
* unprotected- `nbgrader autograde` with nbgrader's own pipeline (hidden tests run inside the kernel);
* protected  - `nbgrader autograde` with the course's pipeline (sandbox, restored metadata, graders
               judging from outside the kernel).

Prints the ratios the issues ask for: protected / plain, plain / floor, protected / unprotected.
Run: .venv/bin/python bench/autograde_overhead.py [--repeat N] [--notebook NAME]
"""

import os

from course.same_numbers import SAME_NUMBERS_ENV

os.environ.update(SAME_NUMBERS_ENV)  # before torch is imported: train as the grader does

import argparse
import statistics
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient

from course.data.grading import prepare
from course.tools.course_folder import make_course
from course.tools.nbgrader_cmd import nbgrader
from course.assignment import ASSIGNMENT
from course.tools.notebooks import fill, notebook_paths, read
from course.tools.samples import Sample, available_notebooks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNPROTECTED = """
# bench: nbgrader's own pipeline, for comparison
from nbconvert.preprocessors import ClearMetadataPreprocessor as _ClearMetadata
from nbconvert.exporters import NotebookExporter as _NotebookExporter
import nbgrader.preprocessors as _pp
c.Autograde.exporter_class = _NotebookExporter
c.Autograde.sanitize_preprocessors = [_pp.ClearOutput, _pp.DeduplicateIds, _pp.OverwriteKernelspec, _pp.OverwriteCells,
                                      _pp.CheckCellMetadata]
c.Autograde.autograde_preprocessors = [_pp.Execute, _pp.IgnorePattern, _ClearMetadata, _pp.LimitOutput,
                                       _pp.SaveAutoGrades, _pp.AssignLatePenalties, _pp.CheckCellMetadata]
"""


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run_plain(nb, env: dict) -> None:
    previous = dict(os.environ)
    os.environ.update(env)
    try:
        NotebookClient(nbformat.from_dict(nb), timeout=900, allow_errors=True, kernel_name="python3").execute()
    finally:
        os.environ.clear()
        os.environ.update(previous)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--notebook", action="append")
    args = parser.parse_args()
    os.environ.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})  # as grading kernels: one thread each
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        protected, unprotected = os.path.join(scratch, "protected"), os.path.join(scratch, "unprotected")
        for root in (protected, unprotected):
            os.makedirs(root)
            make_course(root, REPO)
        with open(os.path.join(unprotected, "nbgrader_config.py"), "a") as f:
            f.write(UNPROTECTED)
        data_env = prepare(os.path.join(protected, "data", "grading"))
        os.environ.update(data_env)  # the unprotected pipeline's kernels find the stand-in data too
        env = {"NBGRADER_EXECUTION": "autograde", **data_env}
        names = args.notebook or available_notebooks(protected)
        floor_nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import torch")])
        print(f"{'notebook':<20} {'floor':>7} {'plain':>7} {'unprot.':>8} {'protect.':>9} "
              f"{'prot/plain':>11} {'plain/floor':>12} {'prot/unprot':>12}")
        for name in names:
            nb = fill(read(notebook_paths(protected, "release", name)), read(notebook_paths(protected, "source", name)))
            times = {key: [] for key in ("floor", "plain", "unprotected", "protected")}
            for _ in range(args.repeat):
                times["floor"].append(timed(lambda: run_plain(floor_nb, env)))
                times["plain"].append(timed(lambda: run_plain(nb, env)))
                for key, root in (("unprotected", unprotected), ("protected", protected)):
                    Sample("bench", {name: None}).submit(root)
                    command = ["autograde", ASSIGNMENT, "--student", "bench", "--force", f"--notebook={name}"]
                    times[key].append(timed(lambda: nbgrader(command, root, log_path=os.path.join(root, "bench.log"))))
            m = {key: statistics.median(values) for key, values in times.items()}
            print(f"{name:<20} {m['floor']:7.1f} {m['plain']:7.1f} {m['unprotected']:8.1f} {m['protected']:9.1f} "
                  f"{m['protected'] / m['plain']:11.2f} {m['plain'] / m['floor']:12.2f} "
                  f"{m['protected'] / m['unprotected']:12.2f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
