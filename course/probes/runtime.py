"""Running one probe beside the student's code: the registry, the entry points, student exceptions.

A probe is a function ``probe(namespace, **inputs) -> outputs`` registered with :func:`probe`;
``namespace`` is the student's globals. :func:`run` calls it and reports either its outputs or the
exception the student's code raised, described as plain data (type, message, the student's line).
"""

import sys
import traceback

import torch

from . import codec

PROBES: dict = {}  # probe name -> function, filled by @probe
PROBE_FILE_PREFIX = "<course-probe"  # the file name of every probe module's code inside a kernel


def probe(function):
    """Register ``function`` as the probe of its name (names are unique across the probe modules)."""
    if function.__name__ in PROBES:
        raise ValueError(f"two probes are named {function.__name__!r}")
    PROBES[function.__name__] = function
    return function


class MissingName(Exception):
    """The student's namespace does not define a name a probe needs."""


def lookup(namespace, name):
    """``namespace[name]``, or :class:`MissingName` saying which cell to run."""
    if name not in namespace:
        raise MissingName(f"{name} is not defined (run the cell that defines it)")
    return namespace[name]


def _is_student_frame(frame) -> bool:
    library = frame.filename.startswith((sys.prefix, sys.base_prefix, sys.exec_prefix)) or "site-packages" in frame.filename
    ours = frame.filename.startswith(PROBE_FILE_PREFIX) or "/course/probes/" in frame.filename
    return not library and not ours


def describe_exception(error) -> dict:
    """``{"type", "message", "where"}`` for an exception raised by student code."""
    frames = traceback.extract_tb(error.__traceback__)
    student = [f for f in frames if _is_student_frame(f)]
    where = ""
    if student:
        last = student[-1]
        where = f"in {last.name}, line {last.lineno}: {(last.line or '').strip()}"
    return {"type": type(error).__name__, "message": str(error)[:500], "where": where}


def run(namespace, probe_name, inputs) -> dict:
    """Run the probe ``probe_name`` on ``inputs``: ``{"ok": outputs}`` or ``{"raised": description}``.

    The global random state is put back afterwards, so grading never changes what later cells compute.
    """
    try:
        with torch.random.fork_rng(devices=[]):
            return {"ok": PROBES[probe_name](namespace, **inputs)}
    except BaseException as error:  # student code may raise anything, KeyboardInterrupt included
        return {"raised": describe_exception(error)}


def run_files(namespace, probe_name, io_path) -> None:
    """Kernel entry point: inputs from ``io_path + '.in'``, outputs to ``io_path + '.out'``."""
    codec.save(io_path + ".out", run(namespace, probe_name, codec.load(io_path + ".in")))
