"""How long grading the instructor's solution takes, part by part, on one core: the basis of the parts'
time limits (course/grade/limits.py scales them by a generous factor).

Each notebook's solutions run in this process (without the Colab-only cells); every part is graded with
the in-process subject, three times, and the median is kept. The parts that evaluate submitted weights are
timed on fresh (untrained) models: grading time does not depend on how well they were trained.

Run: .venv/bin/python bench/reference_seconds.py   (writes course/grade/reference_seconds.json)
"""

import os

from course.same_numbers import SAME_NUMBERS_ENV

os.environ.update(SAME_NUMBERS_ENV)  # before torch is imported: train as the grader does

import json
import statistics
import tempfile
import time

import torch

from course.assignment import NOTEBOOKS
from course.data import grading as grading_data
from course.grade.checker import PARTS, find_part, grade_part
from course.grade.limits import REFERENCE_SECONDS
from course.grade.subject import LocalSubject, Submission
from course.grade.weights import decode_weights
from course.probes.common import torch_threads
from course.tools.notebooks import notebook_paths, read, run_in_process

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {"hw2_cnn": {"convnet": ("ConvNet", ())},
          "hw2_rnn": {"echo_model": ("GRUMemory", (64,)), "variable_echo_model": ("VariableDelayGRUMemory", (160, 8))}}


def submission(namespace: dict, name: str, data_root: str) -> Submission:
    """Fresh models of the notebook's classes, encoded by the notebook's own submit_weights code."""
    nb = read(notebook_paths(REPO, "source", name))
    cell = next((c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "submit_weights"), None)
    if cell is None:
        return Submission(None, "", data_root)
    encoder = {"torch": torch}
    exec(cell.source[:cell.source.rindex("\nsubmit_weights(")], encoder)
    models = {model: namespace[cls](*args) for model, (cls, args) in MODELS[name].items()}
    return Submission(decode_weights(encoder["encode_weights"](models, torch.float16)), "", data_root)


def main() -> None:
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    seconds = {}
    with tempfile.TemporaryDirectory() as data_root, torch_threads(1):
        grading_data.prepare(data_root)
        for name in NOTEBOOKS:
            namespace = run_in_process(read(notebook_paths(REPO, "source", name)))
            weights = submission(namespace, name, data_root)
            for part_id in sorted(p for p in _parts(name)):
                times = []
                for _ in range(3):
                    started = time.perf_counter()
                    grade_part(part_id, LocalSubject(namespace, weights))
                    times.append(time.perf_counter() - started)
                seconds[part_id] = round(statistics.median(times), 2)
                print(f"{part_id:<45} {seconds[part_id]:7.2f} s")
    with open(REFERENCE_SECONDS, "w") as f:
        json.dump({"measured": "bench/reference_seconds.py, one torch thread", "load": round(os.getloadavg()[0], 2),
                   "seconds": seconds}, f, indent=1)
    print("written:", REFERENCE_SECONDS)


def _parts(notebook: str) -> list[str]:
    """The registered parts of a notebook (importing its grader module)."""
    try:
        find_part(f"{notebook}.__none__")
    except KeyError:
        pass
    return [p for p in PARTS if p.startswith(f"{notebook}.")]


if __name__ == "__main__":
    main()
