"""The time one notebook's grading may take, so that no submission holds a grading worker for long.

Three limits, all in seconds of wall clock:

* the notebook's budget: after it, the remaining test cells are not graded (the points earned stay)
  and go to the instructor, and the remaining cells are not run;
* a student cell's limit, and a part's limit (for all the probes it runs, see
  :func:`course.grade.limits.part_limit`): each also at most what is left of the budget;
* the restart budget: the time spent restarting dead or hung kernels (and replaying the cells that
  had run) is counted, and once it is spent the kernel is not restarted again, however often it died.
"""

import time


class NotebookBudget:
    """The clock of one notebook's grading.

    Args:
        seconds: the notebook's whole budget.
        restart_seconds: the part of it that kernel restarts and replays may take together.
    """

    def __init__(self, seconds: float, restart_seconds: float):
        self.seconds, self.restart_seconds = seconds, restart_seconds
        self.started = time.monotonic()
        self.restarting = 0.0  # seconds spent restarting so far

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        """Seconds left of the notebook's budget (never below 0)."""
        return max(self.seconds - self.elapsed(), 0.0)

    @property
    def exhausted(self) -> bool:
        return self.remaining() <= 0.0

    def limit(self, wanted: float) -> float:
        """``wanted`` seconds, or what is left of the budget if that is less."""
        return min(wanted, self.remaining())

    def charge_restart(self, seconds: float) -> None:
        """Count ``seconds`` spent restarting a kernel and replaying cells."""
        self.restarting += seconds

    @property
    def may_restart(self) -> bool:
        """Whether another restart fits in the restart budget (and the notebook's)."""
        return self.restarting < self.restart_seconds and not self.exhausted
