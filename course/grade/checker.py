"""The machinery every grader shares: cases with evidence, seeded inputs, and the part registry.

A grader is a plain function ``grader(subject, checker)`` registered with :func:`part`. It *declares*
its cases (``checker.add(what, run, weight)``); :func:`grade_part` then runs them one by one. A case
fails with evidence (shapes, the largest error, the tolerance); a student exception fails only its
case; a hang, a crash or memory exhaustion stops the part and fails the cases not yet run; any other
exception is a bug of ours and marks the part as a grader error for the instructor.
"""

import importlib
import traceback
import zlib
from dataclasses import dataclass
from typing import Callable

import torch

from course.assignment import NOTEBOOKS
from course.grade.answers import Comparison, compare_numbers, compare_values, shape_text, truth
from course.grade.result import Finding, PartResult, Status
from course.grade.subject import Aborted, StudentError, Subject


def seed_for(part_id: str) -> int:
    """The seed of a part's inputs: fixed per part, so a submission always gets the same score."""
    return zlib.crc32(part_id.encode())


def describe_shape(tensor) -> str:
    """``(2, 3, 4)`` for a tensor of that shape."""
    return shape_text(tensor.shape)


class Case:
    """Evidence gathered by one case: it passes when no expectation failed."""

    def __init__(self):
        self.problems: list[str] = []
        self.evidence: list[str] = []

    @property
    def passed(self) -> bool:
        return not self.problems

    def fail(self, problem: str) -> None:
        self.problems.append(problem)

    def expect(self, condition, problem: str) -> bool:
        """Fail with ``problem`` unless ``condition`` holds. Never raises: an element-wise comparison
        (a tensor of several truth values, from a student's value of an unexpected form) does not hold."""
        held = truth(condition)
        if not held:
            self.fail(problem)
        return held

    def _expect_comparison(self, comparison: Comparison, name: str) -> bool:
        if not comparison.ok:
            self.fail(comparison.problem)
            return False
        self.evidence.append(f"{name} largest error {comparison.worst:.2g}")
        return True

    def expect_tensor(self, name: str, got, expected, *, rtol: float, atol: float, dtype=None) -> bool:
        """``got`` must be a tensor of ``expected``'s shape (and ``dtype``, if given) whose values
        are within ``atol + rtol * |expected|`` of ``expected`` everywhere (what a function returns)."""
        if not isinstance(got, torch.Tensor):
            self.fail(f"{name} should be a torch.Tensor, got {type(got).__name__}")
            return False
        if tuple(got.shape) != tuple(expected.shape):
            self.fail(f"{name} has shape {describe_shape(got)}, expected {describe_shape(expected)}")
            return False
        ok = True
        if dtype is not None and got.dtype != dtype:
            ok = self.expect(False, f"{name} has dtype {str(got.dtype).replace('torch.', '')}, expected "
                                    f"{str(dtype).replace('torch.', '')} (keep the input's dtype)")
        return self._expect_comparison(compare_numbers(name, got, expected, rtol=rtol, atol=atol), name) and ok

    def expect_values(self, name: str, got, expected, *, rtol: float, atol: float, same_entries: bool = False) -> bool:
        """``got``, an answer's numbers in any form (a tensor or array of any dtype, nested lists, a
        number), must have ``expected``'s shape up to singleton dimensions (with ``same_entries``: as
        many entries, row-major) and its values within ``atol + rtol * |expected|``."""
        comparison = compare_values(name, got, expected, rtol=rtol, atol=atol, same_entries=same_entries)
        return self._expect_comparison(comparison, name)


def once(fetch):
    """``fetch()`` run at most once; a student failure is remembered and raised to every caller."""
    memo = {}

    def get():
        if "value" not in memo:
            try:
                memo["value"] = fetch()
            except StudentError as error:
                memo["error"] = error
                memo["value"] = None
        if "error" in memo:
            raise memo["error"]
        return memo["value"]

    return get


@dataclass(frozen=True)
class Part:
    """A graded part: the hidden test cell ``check(id, ...)`` names it by ``id``."""

    id: str
    title: str
    points: float  # the points the notebook gives it; the gradebook's value wins when they differ
    hint: str
    grader: Callable[[Subject, "Checker"], None]
    kind: str = "probes"  # what grading it costs: "probes", "weights" (evaluates submitted weights), "procedure" (re-runs training)


PARTS: dict[str, Part] = {}


def part(part_id: str, title: str, points: float, hint: str = "", kind: str = "probes"):
    """Register a grader for ``part_id`` (``"<notebook>.<name>"``); ``kind`` names the cost of grading it
    (see :class:`Part`), for the grading records and the benchmarks."""

    def register(grader):
        if part_id in PARTS:
            raise ValueError(f"part {part_id!r} is registered twice")
        PARTS[part_id] = Part(part_id, title, points, hint, grader, kind)
        return grader

    return register


def find_part(part_id: str) -> Part:
    """The registered part ``part_id``, importing its notebook's grader module on first use."""
    notebook = part_id.split(".", 1)[0]
    if part_id not in PARTS and notebook in NOTEBOOKS:
        importlib.import_module(f"course.grade.{notebook}")
    if part_id not in PARTS:
        raise KeyError(f"no grader is registered for part {part_id!r}")
    return PARTS[part_id]


class Checker:
    """Collects the cases of one part and runs them."""

    def __init__(self, graded: Part):
        self.part = graded
        self.generator = torch.Generator().manual_seed(seed_for(graded.id))
        self.cases: list[tuple[str, Callable[[Case], None], float]] = []
        self.disqualified = ""

    def add(self, what: str, run: Callable[[Case], None], weight: float = 1.0) -> None:
        """Declare a case: ``run(case)`` gathers its evidence."""
        self.cases.append((what, run, weight))

    def disqualify(self, reason: str) -> None:
        """Zero the part whatever its cases show (e.g. a forbidden library routine was used)."""
        self.disqualified = self.disqualified or reason

    def randn(self, *shape, dtype=torch.float64):
        """Seeded standard-normal inputs."""
        return torch.randn(*shape, generator=self.generator, dtype=torch.float64).to(dtype)

    def rand(self, *shape, dtype=torch.float64):
        return torch.rand(*shape, generator=self.generator, dtype=torch.float64).to(dtype)

    def randint(self, low: int, high: int, shape) -> torch.Tensor:
        return torch.randint(low, high, tuple(shape), generator=self.generator)

    def run(self, result: PartResult) -> None:
        for index, (what, run, weight) in enumerate(self.cases):
            case = Case()
            try:
                run(case)
            except StudentError as error:
                case.fail(str(error))
            except Aborted as error:
                result.status = error.status
                result.findings.append(Finding(what, False, str(error), weight))
                result.findings.extend(Finding(w, False, "not run (grading of this part stopped)", wt)
                                       for w, _, wt in self.cases[index + 1:])
                return
            detail = "; ".join(case.problems) if case.problems else ", ".join(case.evidence)
            result.findings.append(Finding(what, case.passed, detail, weight))


def grade_part(part_id: str, subject: Subject) -> PartResult:
    """Grade one part against ``subject``. Never raises: our own failures become ``GRADER_ERROR``."""
    try:
        graded = find_part(part_id)
    except Exception:  # an unknown id or a broken grader module: ours to fix
        return PartResult(part_id, part_id, status=Status.GRADER_ERROR, note=traceback.format_exc())
    result = PartResult(part_id, graded.title, hint=graded.hint)
    try:
        checker = Checker(graded)
        graded.grader(subject, checker)
        checker.run(result)
    except Aborted as error:  # raised while the grader was still declaring its cases
        result.status = error.status
        result.findings.append(Finding("running your code", False, str(error)))
        return result
    except StudentError as error:
        result.findings.append(Finding("running your code", False, str(error)))
        return result
    except Exception:
        result.status, result.note = Status.GRADER_ERROR, traceback.format_exc()
        return result
    if checker.disqualified:
        result.disqualified = checker.disqualified
    return result
