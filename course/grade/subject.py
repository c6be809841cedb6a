"""Where the student's code lives, and how graders reach it.

A grader asks a :class:`Subject` to run a probe (see :mod:`course.probes`) and gets plain data and
typed records back. Two subjects, one protocol:

* :class:`LocalSubject` runs the probe in this process, on a namespace it is handed (the hidden test
  cell's ``globals()`` when nbgrader runs hidden tests inside the kernel, or a test's own namespace);
* :class:`KernelSubject` ships the probe into a running (sandboxed) kernel and reads its results from
  files, so the judging happens in the grading process, out of the student's reach.

Both send the inputs and the outputs through the same codec, so a grader sees the same values either
way.
"""

import inspect
import os
import time
from abc import ABC, abstractmethod
from typing import Protocol

from dataclasses import dataclass

from course.grade import transport
from course.grade.result import Status
from course.grade.weights import SubmittedModel, SubmittedWeights
from course.probes import codec

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
    raised = outcome.get("raised")
    if not (isinstance(raised, dict) and all(isinstance(raised.get(k), str) for k in ("type", "message", "where"))):
        raise StudentError("the result of your code came back malformed")
    kind, message, where = raised["type"], raised["message"], raised["where"]
    if kind == "MissingName":
        raise StudentError(message)
    if kind == "MemoryError" or any(sign in message for sign in OUT_OF_MEMORY_SIGNS):
        raise Aborted(Status.OUT_OF_MEMORY, f"{kind}: {message}")
    raise StudentError(f"your code raised {kind}: {message}" + (f" ({where})" if where else ""))


DEFAULT_DATA_ROOT = os.path.join("data", "grading")


@dataclass(frozen=True)
class Submission:
    """What graders know of a submission besides its code: the trained weights the notebook stored
    (or why they could not be read) and where the grading machine keeps its data (CIFAR-10)."""

    weights: SubmittedWeights | None = None
    weights_problem: str = ""  # why the submitted weights could not be read ('' when they could, or none came)
    data_root: str = DEFAULT_DATA_ROOT

    def model(self, name: str) -> SubmittedModel:
        """The submitted model ``name``.

        Raises:
            StudentError: with the reason, when the notebook submitted no usable weights for it.
        """
        if self.weights_problem:
            raise StudentError(f"the submitted weights could not be read: {self.weights_problem}")
        if self.weights is None or name not in self.weights.models:
            given = ", ".join(self.weights.models) if self.weights and self.weights.models else "none"
            raise StudentError(f"the notebook holds no trained weights for {name} (weights found: {given}); run the "
                               "notebook's last cell, submit_weights(...), after training, then save and download it")
        return self.weights.models[name]


class Subject(ABC):
    """The student's code, as graders see it, and what else the student submitted (``submission``)."""

    submission: Submission = Submission()

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

    def values(self, *names: str) -> dict:
        """The student's variables ``names`` (None for a missing one), through the ``values`` probe."""
        return self.probe("values", names=list(names)).values


class LocalSubject(Subject):
    """The student's namespace in this very process."""

    def __init__(self, namespace: dict, submission: Submission | None = None):
        self.namespace = namespace
        self.submission = submission or Submission()

    def probe(self, probe_name: str, /, **inputs):
        return unwrap(transport.run_here(self.namespace, probe_name, inputs))

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
        code_path: the compiled probe modules (:func:`~course.grade.transport.write_code`), readable by the
            kernel, not writable.
        sources: the cells that have run in the kernel (trusted copies, from the notebook file).
        time_limit: seconds all the probes of this subject may take together (one part's limit).
        submission: what the notebook submitted besides code.
    """

    def __init__(self, runner: KernelRunner, io_dir: str, code_path: str, sources: list[str], time_limit: float,
                 submission: Submission | None = None):
        self.runner, self.io_dir, self.code_path = runner, io_dir, code_path
        self.sources, self.time_limit = sources, time_limit
        self.submission = submission or Submission()
        self.deadline = time.monotonic() + time_limit
        self.calls = 0

    def probe(self, probe_name: str, /, **inputs):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise Aborted(Status.TIMEOUT, f"the part's time limit of {self.time_limit:.0f} s ran out")
        self.calls += 1
        path = os.path.join(self.io_dir, f"probe-{self.calls:04d}")
        codec.save(path + ".in", inputs)
        status = self.runner.run_probe_code(transport.kernel_program(probe_name, path, self.code_path), remaining)
        if status is Status.TIMEOUT:
            raise Aborted(status, f"stopped at the part's time limit of {self.time_limit:.0f} s")
        if status is not Status.GRADED:
            raise Aborted(status, "the kernel stopped while running your code")
        try:
            outcome = codec.load(path + ".out")
        except (OSError, ValueError, KeyError, TypeError) as error:
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
