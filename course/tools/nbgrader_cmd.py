"""Running nbgrader's own commands from the course tools."""

import ctypes
import os
import signal
import subprocess
import sys

from course.dburl import without_credential_env
from course.same_numbers import SAME_NUMBERS_ENV

GRADING_THREADS = 1  # math-library threads of a grading process: one grading per core, no oversubscription
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
SHARED_SERVER_ENV = "COURSE_WARM_NBGRADER"  # a worker's way to its machine's warm nbgrader (course.tools.warm_nbgrader)
# Set by a Dask nanny for its worker's allocator; inherited by a grading, glibc would hand memory back to the
# system after every training step (a hw2_cnn kernel then spends a third more CPU on page faults).
WORKER_ONLY_ENV = ("MALLOC_TRIM_THRESHOLD_", SHARED_SERVER_ENV)


def environment() -> dict:
    """This environment with its ``bin`` folder first on PATH (nbgrader runs ``alembic`` from there)."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def grading_environment() -> dict:
    """The environment of an ``nbgrader autograde`` that grades into a private gradebook: no gradebook
    address or password (it needs none, and its kernels must see none), one thread per math library (the
    grader's own torch work stays on its core), the same CPU kernels as the grading kernel, and none of the
    settings a Dask worker makes for itself."""
    env = {name: value for name, value in without_credential_env(environment()).items() if name not in WORKER_ONLY_ENV}
    env.update({name: str(GRADING_THREADS) for name in THREAD_ENV})
    env.update(SAME_NUMBERS_ENV)
    return env


PR_SET_PDEATHSIG = 1  # prctl(2)
_prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: a forked child before exec only calls it


def die_with_parent() -> None:
    """Make Linux send this process SIGKILL when its parent dies (and die now if it already has). Called in a
    child between fork and exec, or first thing in a server: a grader killed mid-task leaves no nbgrader
    behind (its kernels follow, as Jupyter kernels do when their parent goes)."""
    parent = os.getppid()
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def nbgrader(args: list[str], root: str, log_path: str | None = None, check: bool = True,
             env: dict | None = None) -> subprocess.CompletedProcess:
    """``nbgrader <args>`` in the course folder ``root``, in ``env`` (default: :func:`environment`); its output
    goes to ``log_path`` if given. It dies with this process.

    Raises:
        subprocess.CalledProcessError: when ``check`` and nbgrader fails.
    """
    command = [os.path.join(os.path.dirname(sys.executable), "nbgrader"), *args]
    env = environment() if env is None else env
    if log_path:
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "w") as log:
            result = subprocess.run(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    preexec_fn=die_with_parent)
    else:
        result = subprocess.run(command, cwd=root, env=env, preexec_fn=die_with_parent)
    if check and result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, command)
    return result
