"""The grading record of one notebook of one student: what ``GuardedExecute`` writes for the
instructor's tools (``reports/grading/<assignment>/<student>/<notebook>.json``) and how they read it.
"""

import dataclasses
import json
import os
from dataclasses import dataclass, field

RECORD_SUFFIX = ".json"
COURSE_RESOURCES = "course"  # resources[...] key under which GuardedExecute reports to later steps (FlagForInstructor)


@dataclass
class FailedCheck:
    """A check of a part that did not pass: what it checked, and the evidence the student read."""

    what: str
    detail: str


@dataclass
class PartRecord:
    """One graded part of a test cell: how grading ended, the share of its checks that passed, the
    checks that failed."""

    part: str
    status: str  # a course.grade.result.Status value
    fraction: float
    disqualified: str
    seconds: float
    failed: list[FailedCheck] = field(default_factory=list)
    kind: str = "probes"  # what grading it cost: course.grade.checker.Part.kind


@dataclass
class CellRecord:
    """One test cell: its points and the parts it graded."""

    grade_id: str
    points: float
    max_points: float
    parts: list[PartRecord] = field(default_factory=list)


@dataclass
class RunRecord:
    """One student (non-test) code cell: what became of it in grading mode and how long it took."""

    index: int
    grade_id: str | None
    outcome: str  # one of RUN_OUTCOMES
    seconds: float


RUN_OUTCOMES = ("ran", "error", "timeout", "kernel died", "skipped: Colab only", "not run: out of time",
                "not run: kernel gave up")


@dataclass
class GradingRecord:
    """One notebook of one student, graded."""

    student: str
    assignment: str
    notebook: str
    seconds: float
    kernel_restarts: int
    gave_up: bool  # the kernel died too often: the rest of the notebook was not graded
    unreadable: bool  # the file was not a notebook: the release stood in for it
    grader_errors: list[str]  # grade ids of test cells whose grader failed (graded by hand)
    cells: list[CellRecord] = field(default_factory=list)
    not_graded: list[str] = field(default_factory=list)  # grade ids left to the instructor: time ran out
    runs: list[RunRecord] = field(default_factory=list)  # the student cells, in order

    @property
    def points(self) -> float:
        return sum(cell.points for cell in self.cells)

    @property
    def max_points(self) -> float:
        return sum(cell.max_points for cell in self.cells)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "GradingRecord":
        data = json.loads(text)
        cells = [CellRecord(**{**cell, "parts": [PartRecord(**{**p, "failed": [FailedCheck(**f) for f in p.get("failed", [])]})
                                                 for p in cell["parts"]]})
                 for cell in data.pop("cells")]
        runs = [RunRecord(**run) for run in data.pop("runs", [])]
        return cls(**data, cells=cells, runs=runs)

    def write(self, record_dir: str) -> str:
        """Write the record under ``record_dir/<assignment>/<student>/``; returns the file."""
        folder = os.path.join(record_dir, self.assignment, self.student)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, self.notebook + RECORD_SUFFIX)
        with open(path, "w") as f:
            f.write(self.to_json())
        return path


def read_records(record_dir: str, assignment: str, student: str) -> list[GradingRecord]:
    """Every notebook record of ``student``, by notebook name."""
    folder = os.path.join(record_dir, assignment, student)
    if not os.path.isdir(folder):
        return []
    records = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(RECORD_SUFFIX):
            with open(os.path.join(folder, name)) as f:
                records.append(GradingRecord.from_json(f.read()))
    return records
