"""Typed results of grading: one :class:`Finding` per check, one :class:`PartResult` per graded part."""

from dataclasses import dataclass, field
from enum import Enum


class Status(str, Enum):
    """How grading of a part ended. Only ``GRADED`` scores are the student's own doing in full."""

    GRADED = "graded"  # every check ran; the score is what passed
    TIMEOUT = "timeout"  # the student's code ran past its time limit
    KERNEL_DIED = "kernel died"  # the student's code crashed the Python process
    OUT_OF_MEMORY = "out of memory"  # the student's code used more memory than allowed
    GRADER_ERROR = "grader error"  # a bug on our side: reported to the instructor, graded by hand
    NOT_GRADED = "not graded"  # the notebook's time (or its kernel's restarts) ran out first: graded by hand


STATUS_WORDS = {
    Status.TIMEOUT: "Your code ran past the time limit, so grading of this part stopped there.",
    Status.KERNEL_DIED: "Your code crashed the Python kernel, so grading of this part stopped there.",
    Status.OUT_OF_MEMORY: "Your code used more memory than allowed, so grading of this part stopped there.",
    Status.GRADER_ERROR: ("The grader itself failed on this part (not your fault). Your instructor has been "
                          "told and will grade it by hand."),
    Status.NOT_GRADED: ("The autograder ran out of time for this notebook (or its kernel kept dying) before this "
                        "part; your instructor has been told and will grade it by hand."),
}
NEEDS_INSTRUCTOR = (Status.GRADER_ERROR, Status.NOT_GRADED)  # parts the autograder leaves to a person


@dataclass(frozen=True)
class Finding:
    """One check: what was checked, whether it passed, and the evidence (shapes, errors, tolerance)."""

    what: str
    passed: bool
    detail: str = ""
    weight: float = 1.0


@dataclass
class PartResult:
    """The outcome of one graded part: its findings, a hint, and how grading ended."""

    part: str
    title: str
    findings: list[Finding] = field(default_factory=list)
    hint: str = ""
    status: Status = Status.GRADED
    note: str = ""  # for the instructor: e.g. the grader's traceback on a grader error
    disqualified: str = ""  # why the part scores zero whatever its checks show (a forbidden routine)

    @property
    def fraction(self) -> float:
        """Share of the checks' weight that passed, in [0, 1]."""
        if self.status in NEEDS_INSTRUCTOR or self.disqualified:
            return 0.0
        total = sum(f.weight for f in self.findings)
        return sum(f.weight for f in self.findings if f.passed) / total if total else 0.0

    def points(self, max_points: float) -> float:
        """Points earned out of ``max_points``, rounded to 1/100 so feedback and gradebook agree."""
        return round(self.fraction * max_points, 2)

    def report(self, max_points: float) -> str:
        """The feedback text a student reads: score, every check with its evidence, the hint."""
        lines = [f"{self.title}: {self.points(max_points):g} / {max_points:g} points"]
        if self.status is not Status.GRADED:
            lines.append(STATUS_WORDS[self.status])
        if self.disqualified:
            lines.append(f"Scored 0: {self.disqualified}")
        for finding in self.findings:
            mark = "PASS" if finding.passed else "FAIL"
            lines.append(f"  [{mark}] {finding.what}" + (f": {finding.detail}" if finding.detail else ""))
        if self.hint and self.fraction < 1.0 and self.status not in NEEDS_INSTRUCTOR:
            lines.append(f"Hint: {self.hint}")
        return "\n".join(lines)
