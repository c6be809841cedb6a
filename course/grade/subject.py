"""Where the student's code lives, and how graders reach it.

A grader asks a :class:`Subject` to run a probe (see :mod:`course.grade.probes`) and gets plain data
back. Two subjects, one protocol:

* :class:`LocalSubject` runs the probe in this process, on a namespace it is handed (the hidden test
  cell's ``globals()`` when nbgrader runs hidden tests inside the kernel, or a test's own namespace);
* :class:`KernelSubject` ships the probe into a running (sandboxed) kernel and reads its results from
  files, so the judging happens in the grading process, out of the student's reach.

Both send the inputs and the outputs through the same codec, so a grader sees the same values either
way.
"""

import ast
import inspect
import io
import os
from abc import ABC, abstractmethod
from typing import Protocol

import numpy as np

from course.grade import probes
from course.grade.result import Status



def _probe_source() -> str:
    """The core probe module followed by every notebook's ``probes_<notebook>.py``, as one program.

    A notebook's probe module may import names from ``course.grade.probes``; in the shipped program
    those names are already defined by the core above it, so such import lines are dropped.
    """
    folder = os.path.dirname(probes.__file__)
    parts = [inspect.getsource(probes)]
    for name in sorted(os.listdir(folder)):
        if name.startswith("probes_") and name.endswith(".py"):
            with open(os.path.join(folder, name)) as f:
                parts.append("\n".join(line for line in f.read().splitlines()
                                       if not line.startswith("from course.grade.probes import")))
    return "\n\n".join(parts)


PROBES_SOURCE = _probe_source()
OUT_OF_MEMORY_SIGNS = ("MemoryError", "can't allocate memory", "DefaultCPUAllocator", "out of memory")


class StudentError(Exception):
    """The student's code raised, returned something unusable, or lacks a name: fails one check."""


class Aborted(Exception):
    """The student's code hung, crashed the kernel or ran out of memory: stops the whole part."""

    def __init__(self, status: Status, message: str):
        super().__init__(message)
        self.status = status


def unwrap(outcome: dict):
    """The probe's outputs, or the student's failure as :class:`StudentError` / :class:`Aborted`."""
    if "ok" in outcome:
        return outcome["ok"]
    raised = outcome["raised"]
    kind, message, where = raised["type"], raised["message"], raised["where"]
    if kind == "MissingName":
        raise StudentError(message)
    if kind == "MemoryError" or any(sign in message for sign in OUT_OF_MEMORY_SIGNS):
        raise Aborted(Status.OUT_OF_MEMORY, f"{kind}: {message}")
    raise StudentError(f"your code raised {kind}: {message}" + (f" ({where})" if where else ""))


def roundtrip(value):
    """``value`` after a trip through the probe codec (what the other side of a kernel would see)."""
    arrays = []
    tree = probes.encode(value, arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **{f"a{i}": a for i, a in enumerate(arrays)})
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as loaded:
        return probes.decode(tree, loaded)


def code_cells(sources: list[str]) -> list[ast.Module]:
    """Parse notebook cell sources, skipping IPython magics and cells that do not parse."""
    modules = []
    for source in sources:
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            modules.append(ast.parse("\n".join(lines)))
        except SyntaxError:
            continue
    return modules


class Subject(ABC):
    """The student's code, as graders see it."""

    @abstractmethod
    def probe(self, probe_name: str, /, **inputs):
        """Run the probe ``probe_name`` on ``inputs`` beside the student's code and return its outputs.

        Raises:
            StudentError: the student's code raised or a name it should define is missing.
            Aborted: the student's code hung, crashed or ran out of memory.
        """

    @abstractmethod
    def cell_sources(self) -> list[str]:
        """The source of every cell that has run so far, in order (for static checks)."""


class LocalSubject(Subject):
    """The student's namespace in this very process."""

    def __init__(self, namespace: dict):
        self.namespace = namespace

    def probe(self, probe_name: str, /, **inputs):
        shipped = {"__name__": "course_probe"}  # the same program a kernel receives
        exec(compile(PROBES_SOURCE, probes.PROBE_FILENAME, "exec"), shipped)
        outcome = shipped["run"](self.namespace, probe_name, roundtrip(inputs))
        return unwrap(roundtrip(outcome))

    def cell_sources(self) -> list[str]:
        history = self.namespace.get("In")
        if isinstance(history, list):
            return [cell for cell in history if isinstance(cell, str)]
        sources = []
        for value in self.namespace.values():
            if inspect.isfunction(value) or inspect.isclass(value):
                try:
                    sources.append(inspect.getsource(value))
                except (OSError, TypeError):
                    continue
        return sources


class KernelRunner(Protocol):
    """What a :class:`KernelSubject` needs from whoever holds the kernel."""

    def run_probe_code(self, code: str, timeout: float) -> Status:
        """Execute ``code`` in the kernel: ``GRADED`` when it finished, else why it did not."""


class KernelSubject(Subject):
    """The student's code in a running kernel, reached through probe files in ``io_dir``.

    Args:
        runner: executes code in the kernel and reports timeouts and deaths.
        io_dir: a folder both this process and the kernel can read and write.
        sources: the cells that have run in the kernel (trusted copies, from the notebook file).
        timeout: seconds one probe may take.
    """

    def __init__(self, runner: KernelRunner, io_dir: str, sources: list[str], timeout: float):
        self.runner, self.io_dir, self.sources, self.timeout = runner, io_dir, sources, timeout
        self.calls = 0

    def probe(self, probe_name: str, /, **inputs):
        self.calls += 1
        path = os.path.join(self.io_dir, f"probe-{self.calls:04d}")
        probes.save(path + ".in", inputs)
        code = (
            "def __course_probe(source, probe, path):\n"
            "    namespace = {'__name__': 'course_probe'}\n"
            f"    exec(compile(source, {probes.PROBE_FILENAME!r}, 'exec'), namespace)\n"
            "    namespace['run_files'](globals(), probe, path)\n"
            f"__course_probe({PROBES_SOURCE!r}, {probe_name!r}, {path!r})\n"
            "del __course_probe\n"
        )
        status = self.runner.run_probe_code(code, self.timeout)
        if status is Status.TIMEOUT:
            raise Aborted(status, f"stopped after {self.timeout:g} s")
        if status is not Status.GRADED:
            raise Aborted(status, "the kernel stopped while running your code")
        try:
            outcome = probes.load(path + ".out")
        except (OSError, ValueError, KeyError) as error:
            raise StudentError(f"the result of your code could not be read back ({error}); "
                               "did the notebook change how Python itself works?") from None
        finally:
            for suffix in (".in.json", ".in.npz", ".out.json", ".out.npz"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
        if not isinstance(outcome, dict) or not ({"ok", "raised"} & set(outcome)):
            raise StudentError("the result of your code came back malformed")
        return unwrap(outcome)

    def cell_sources(self) -> list[str]:
        return list(self.sources)
