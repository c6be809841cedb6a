"""How long grading takes, against baselines measured in the same session.

On the complete submission as a student's own run leaves it (all three notebooks trained on the grading
data, weights stored, made once with `course samples --trained`'s code):

* floor       - an empty notebook that only imports torch (a kernel's start and import), per notebook;
* protected   - `nbgrader autograde` with the course's pipeline (sandbox, restored metadata, graders judging
                from outside the kernel, Colab-only cells skipped, weights evaluated), one worker;
* unprotected - `nbgrader autograde` with nbgrader's own pipeline on the same grading work: the submission
                without its Colab-only cells, hidden tests run inside the kernel, the weights handed to them
                in a file ($COURSE_WEIGHTS).

Prints per notebook (each graded by its own `nbgrader autograde` process): seconds, protected / unprotected,
and the seconds of grading per part kind (probes, weights evaluation, procedure re-runs) from the grading
records. Then the complete submission, all three notebooks in one `nbgrader autograde`, both as a fresh
process and as a grading worker runs it (forked from its warm nbgrader, course.tools.warm_nbgrader, which has
imported nbgrader and the graders once for all its students): protected over the floor of three empty
notebooks (the target of issue 10: at most 5x) and protected over unprotected (at most 1.10x).
Run: .venv/bin/python bench/autograde_overhead.py [--repeat N]  ($COURSE_TRAINED_CACHE: reuse student runs made before)
"""

import os

from course.same_numbers import SAME_NUMBERS_ENV

os.environ.update(SAME_NUMBERS_ENV)  # before torch is imported: train as the grader does

import argparse
import json
import statistics
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient

from course.assignment import ASSIGNMENT, NOTEBOOKS
from course.data.grading import prepare
from course.grade.weights import WEIGHTS_MIME
from course.pipeline.markers import is_colab_only
from course.pipeline.record import read_records
from course.tools.course_folder import make_course
from course.tools.nbgrader_cmd import environment, nbgrader
from course.tools.samples import Sample, everything
from course.tools.warm_nbgrader import run_warm

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


def grading_view(text: str) -> tuple[str, dict | None]:
    """The submission as grading mode runs it (no Colab-only cell), and its stored weights."""
    nb = nbformat.reads(text, as_version=4)
    weights = next((o["data"][WEIGHTS_MIME] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                    if WEIGHTS_MIME in o.get("data", {})), None)
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and is_colab_only(c.source))]
    return nbformat.writes(nb), weights


def submit(root: str, texts: dict[str, str]) -> None:
    folder = os.path.join(root, "submitted", "bench", ASSIGNMENT)
    os.makedirs(folder, exist_ok=True)
    for name, text in texts.items():
        with open(os.path.join(folder, f"{name}.ipynb"), "w") as f:
            f.write(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    os.environ.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})  # as grading kernels: one thread each
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        data = os.path.join(scratch, "data")
        os.environ.setdefault("COURSE_TRAINED_CACHE", os.path.join(scratch, "trained"))  # or a cache of earlier runs
        protected, unprotected = os.path.join(scratch, "protected"), os.path.join(scratch, "unprotected")
        for root in (protected, unprotected):
            os.makedirs(root)
            make_course(root, REPO, data)
        with open(os.path.join(unprotected, "nbgrader_config.py"), "a") as f:
            f.write(UNPROTECTED)
        os.environ.update(prepare(data))  # in-place grading (unprotected) finds the grading data too
        started = time.perf_counter()
        texts = Sample("bench", everything(protected), trained=True).notebooks(protected)
        print(f"the student's own run of the three notebooks: {time.perf_counter() - started:.0f} s", flush=True)
        submit(protected, texts)
        views = {name: grading_view(text) for name, text in texts.items()}
        submit(unprotected, {name: view for name, (view, _) in views.items()})
        floor_nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import torch")])
        print(f"{'notebook':<20} {'floor':>7} {'unprot.':>8} {'protect.':>9} {'prot/unprot':>12}   seconds per part kind")
        totals = {"floor": 0.0, "protected": 0.0, "unprotected": 0.0}
        for name in NOTEBOOKS:
            times = {key: [] for key in totals}
            weights_file = os.path.join(scratch, f"{name}-weights.json")
            with open(weights_file, "w") as f:
                json.dump(views[name][1], f)
            for _ in range(args.repeat):
                times["floor"].append(timed(lambda: NotebookClient(nbformat.from_dict(floor_nb), kernel_name="python3").execute()))
                for key, root in (("unprotected", unprotected), ("protected", protected)):
                    command = ["autograde", ASSIGNMENT, "--student", "bench", "--force", f"--notebook={name}"]
                    if key == "unprotected":
                        os.environ["COURSE_WEIGHTS"] = weights_file if views[name][1] else ""
                    times[key].append(timed(lambda: nbgrader(command, root, log_path=os.path.join(root, "bench.log"))))
                    os.environ.pop("COURSE_WEIGHTS", None)
            m = {key: statistics.median(values) for key, values in times.items()}
            for key in totals:
                totals[key] += m[key]
            record = next(r for r in read_records(os.path.join(protected, "reports", "grading"), ASSIGNMENT, "bench")
                          if r.notebook == name)
            kinds = {}
            for cell in record.cells:
                for part in cell.parts:
                    kinds[part.kind] = kinds.get(part.kind, 0.0) + part.seconds
            print(f"{name:<20} {m['floor']:7.1f} {m['unprotected']:8.1f} {m['protected']:9.1f} "
                  f"{m['protected'] / m['unprotected']:12.2f}   "
                  + ", ".join(f"{kind} {seconds:.1f}" for kind, seconds in sorted(kinds.items())), flush=True)
        print(f"the three notebooks one by one: protected {totals['protected']:.1f} s = "
              f"{totals['protected'] / totals['floor']:.2f}x the floor of three empty notebooks ({totals['floor']:.1f} s), "
              f"{totals['protected'] / totals['unprotected']:.2f}x nbgrader's own pipeline")
        os.environ["COURSE_WEIGHTS"] = merged_weights(scratch, [weights for _, weights in views.values() if weights])
        complete(protected, unprotected, totals["floor"], args.repeat)


def merged_weights(scratch: str, payloads: list[dict]) -> str:
    """One weights file holding the models of every notebook's payload (for in-place grading of them all)."""
    path = os.path.join(scratch, "all-weights.json")
    with open(path, "w") as f:
        json.dump({**payloads[0], "models": {k: v for p in payloads for k, v in p["models"].items()}}, f)
    return path


def complete(protected: str, unprotected: str, floor: float, repeat: int) -> None:
    """The complete submission in one ``nbgrader autograde``: a fresh process, and a worker's warm nbgrader."""
    command = ["autograde", ASSIGNMENT, "--student", "bench", "--force"]
    env = environment()
    # the worker is up before its first student, its imports done
    run_warm(["--version"], protected, os.path.join(protected, "warm.log"), env, NOTEBOOKS)
    ways = {"a fresh nbgrader process": lambda root: nbgrader(command, root, log_path=os.path.join(root, "bench.log")),
            "a grading worker (forked)": lambda root: run_warm(command, root, os.path.join(root, "bench.log"), env,
                                                                NOTEBOOKS)}
    print(f"\ncomplete submission, one nbgrader autograde  {'unprot.':>8} {'protect.':>9} {'prot/unprot':>12} {'prot/floor':>11}")
    for way, grade in ways.items():
        times = {"unprotected": [], "protected": []}
        for _ in range(repeat):
            for key, root in (("unprotected", unprotected), ("protected", protected)):
                times[key].append(timed(lambda: grade(root)))
        m = {key: statistics.median(values) for key, values in times.items()}
        print(f"{way:<44} {m['unprotected']:8.1f} {m['protected']:9.1f} {m['protected'] / m['unprotected']:12.2f} "
              f"{m['protected'] / floor:11.2f}", flush=True)
    print(f"targets: protected <= 5x the floor of three empty notebooks ({floor:.1f} s), <= 1.10x nbgrader's own pipeline")


if __name__ == "__main__":
    sys.exit(main())
