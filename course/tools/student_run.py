"""Running a notebook as a student does in Colab: top to bottom, outside grading mode, with its outputs.

The kernel is the grading sandbox (:mod:`course.sandbox`), so the hidden package and the course folder are
out of reach as they are in Colab; the data the notebooks download in Colab comes from the grading
machine's folder instead (``$HW2_DATA``: CIFAR-10 if ``course data fetch`` put it there, else the generated
stand-in). Used to make trained sample submissions (``course samples --trained``) and the reference run
whose plots the rubrics show.
"""

import hashlib
import logging
import os
import threading

import nbformat
from jupyter_core.utils import run_sync
from nbclient import NotebookClient

import course
from course.data import grading as grading_data
from course.pipeline.workspace import Workspace, confined_kernel, denied_paths
from course.sandbox.bubblewrap import KERNEL_UID

CELL_TIMEOUT = 1800  # seconds: a training cell of a notebook run as in Colab, on one CPU thread
STUDENT_PROCESSES = 256  # processes and threads the kernel may run (DataLoader workers included)
LOG = logging.getLogger(__name__)
_running: dict[str, threading.Lock] = {}  # cache key -> held while that run is made: threads wait, not run it twice


def run_as_student(nb, data_root: str, course_root: str, threads: int = 1):
    """``nb`` executed top to bottom (a copy, with every output) as in Colab, on the data in ``data_root``.
    A cell that fails keeps its error and the run goes on, as a student runs the cells after it."""
    data_env = grading_data.prepare(data_root)
    workspace, km = Workspace(), None
    try:
        km = confined_kernel(workspace, kernel_uid=KERNEL_UID, require_sandbox=False, log=LOG, kernel_name="python3",
                             read_dirs=list(data_env.values()), memory_mb=0, max_processes=STUDENT_PROCESSES,
                             deny_paths=denied_paths(course_root, os.path.dirname(course.__file__), ""))
        executed = nbformat.from_dict(nb)
        env = {key: value for key, value in workspace.environment(threads, data_env).items()
               if key != "NBGRADER_EXECUTION"}  # as in Colab: not a grading run
        client = NotebookClient(executed, km=km, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": workspace.work}})  # a failing cell does not stop the run
        client.execute(cwd=workspace.work, env=env)
        return executed
    finally:
        if km is not None and km.has_kernel:  # the client does not stop a kernel it was handed
            run_sync(km.shutdown_kernel)(now=True)
        workspace.remove()


def cached_run(nb, data_root: str, course_root: str, cache_dir: str):
    """:func:`run_as_student`, kept in ``cache_dir`` by the notebook's content and the data it ran on (threads
    asking for the same run while it is made wait for it)."""
    key = hashlib.sha256((nbformat.writes(nb) + grading_data.dataset_version(data_root)).encode()).hexdigest()
    path = os.path.join(cache_dir, f"{key[:24]}.ipynb")
    with _running.setdefault(path, threading.Lock()):  # one lock per key, whichever thread asks first
        if os.path.exists(path):
            return nbformat.read(path, as_version=4)
        executed = run_as_student(nb, data_root, course_root)
        os.makedirs(cache_dir, exist_ok=True)
        nbformat.write(executed, path + ".part")
        os.replace(path + ".part", path)
        return executed
