"""nbgrader's Execute step, hardened for submissions that may be broken or hostile.

:class:`GuardedExecute` replaces ``Execute`` in ``Autograde.autograde_preprocessors``. It runs the
student's cells in a sandboxed kernel (:mod:`course.sandbox`), cell by cell as nbgrader does, but:

* test cells are *not* sent to the kernel. The part ids named by their hidden ``check(...)`` calls
  (read from the cell as restored from the gradebook) are graded here, in the grading process,
  through probes (:mod:`course.grade.subject`); the cell's outputs, which nbgrader turns into the
  score, are written by this class alone, so nothing the student's code does to the kernel can
  fake them;
* cells that run in Colab only (long training) are skipped; the TA sees the outputs the student
  submitted instead, and beside the re-run of every manually graded code cell, labelled as the
  student's (:mod:`course.pipeline.submitted`); the graders get the trained weights the notebook
  submitted;
* time is bounded (:mod:`course.pipeline.budget`): every student cell, every part and the whole
  notebook have a limit; what is left when the notebook's time runs out goes to the instructor, and
  the points earned stay;
* a hang is interrupted, and a kernel that died or stopped answering is restarted and the cells
  that had run are replayed, so a crash costs only the parts that depend on the crashed code; the
  restarts of a notebook are budgeted by time, and grading always finishes and writes every part;
* a cell's outputs are cut at a stated size, so a flood of printing cannot bloat the notebook;
* every grader failure (a bug on our side) is logged and reported to the instructor instead of
  being scored as the student's zero (see :class:`course.pipeline.flag.FlagForInstructor`);
* a record of every part's and every cell's outcome and time is written for the instructor's tools.
"""

import math
import os
import time
import traceback
from queue import Empty

import nbformat
from jupyter_core.utils import ensure_async, run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Enum, Integer, Unicode

import course
from course.data import grading as grading_data
from course.grade.checker import find_part, grade_part
from course.grade.limits import part_limit
from course.grade.result import NEEDS_INSTRUCTOR, PartResult, Status
from course.grade import transport
from course.grade.subject import KernelSubject, Submission
from course.grade.weights import WeightsError, decode_weights
from course.pipeline import points
from course.pipeline.budget import NotebookBudget
from course.pipeline.markers import grade_id, is_test_cell, part_ids
from course.pipeline.record import COURSE_RESOURCES, CellRecord, FailedCheck, GradingRecord, PartRecord, RunRecord
from course.pipeline.sanitize import UNREADABLE_MARKER
from course.pipeline.output_limit import keep_within
from course.pipeline.submitted import COURSE_METADATA, NOT_RUN_NOTE, labelled, note
from course.pipeline.workspace import Workspace, confined_kernel, denied_paths
from course.sandbox.bubblewrap import KERNEL_UID

PING_TIMEOUT = 20.0  # seconds a healthy idle kernel takes, at most, to answer


def error_output(name: str, message: str):
    """An error output as a cell's own error would show it."""
    return nbformat.v4.new_output("error", ename=name, evalue=message, traceback=[f"{name}: {message}"])


def is_colab_only(cell) -> bool:
    """Whether the gradebook marks this cell as run in Colab only (see course.pipeline.sanitize)."""
    return bool(cell.metadata.get(COURSE_METADATA, {}).get("colab_only"))


def is_manually_graded_code(cell) -> bool:
    """A code cell a TA grades: its outputs are evidence."""
    return cell.cell_type == "code" and utils.is_grade(cell) and utils.is_solution(cell)


class GuardedExecute(Execute):
    """Execute a submission in a sandboxed kernel and grade its test cells from outside it."""

    probe_timeout = Integer(300, help="Seconds one grader probe (one call into student code) may run at most.").tag(config=True)
    interrupt_grace = Integer(20, help="Seconds a kernel gets to stop after an interrupt before it is killed.").tag(config=True)
    memory_limit_mb = Integer(6144, help="Heap limit of a grading kernel in MiB.").tag(config=True)
    notebook_budget = Integer(900, help="Seconds one notebook's grading may take; the rest then goes to the instructor.").tag(config=True)
    restart_budget = Integer(240, help="Seconds of a notebook's budget that kernel restarts and replays may take.").tag(config=True)
    max_output_bytes = Integer(100_000, help="The most output one cell keeps; the rest is cut with a note.").tag(config=True)
    kernel_threads = Integer(1, help="Torch/OpenMP threads of a grading kernel (one per parallel grader).").tag(config=True)
    data_root = Unicode("data/grading", help="Folder of the grading data (CIFAR-10, or its generated stand-in).").tag(config=True)
    record_dir = Unicode("reports/grading", help="Where the per-notebook grading records go.").tag(config=True)
    require_sandbox = Bool(True, help="Refuse to grade when the OS cannot confine the kernel (no Landlock, "
                                      "no bubblewrap or no user namespaces).").tag(config=True)
    kernel_uid = Integer(KERNEL_UID, help="uid (and gid) of grading kernels when grading runs as root; no account "
                                          "or file of the machine may use it.").tag(config=True)
    max_kernel_processes = Integer(256, help="Processes and threads a grading kernel may run at once.").tag(config=True)
    # nbclient's default asks the kernel to shut down and waits for it: a kernel that has imported torch takes
    # 1-2 s to exit, three times per student. Nothing of a graded kernel is kept, so it is killed at once (the
    # sandbox's PID namespace takes every process it started with it).
    shutdown_kernel = Enum(["graceful", "immediate"], default_value="immediate",
                           help="How a grading kernel ends: killed at once, or asked to shut down first.").tag(config=True)

    # ------------------------------------------------------------------ the step

    def preprocess(self, nb, resources, km=None):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self.resources.setdefault(COURSE_RESOURCES, {"grader_errors": [], "not_graded": []})
        kept = self.nb.metadata.pop(COURSE_METADATA, None) or {}
        self.submission = self._submission(kept)
        self.submitted_outputs = kept.get("outputs", {}) if isinstance(kept.get("outputs"), dict) else {}
        self.cell_limit = self.timeout or 60
        self.budget = NotebookBudget(self.notebook_budget, self.restart_budget)
        self.workspace = Workspace()
        self.replayable: list[int] = []  # cells that ran to the end: replayed after a restart
        self.restarts, self.gave_up, self._hung = 0, False, False
        self.cell_records: list[CellRecord] = []
        self.runs: list[RunRecord] = []
        self._output_bytes: dict[int, int] = {}
        try:
            self._start_kernel()
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type == "code" and cell.source.strip():
                    self._process(index, cell)
        finally:
            self._stop_kernel()
            self.workspace.remove()
            self._write_record(self.budget.elapsed())
        return self.nb, self.resources

    def _submission(self, kept: dict) -> Submission:
        """The submitted weights (decoded here, never in the kernel) and where the grading data is."""
        weights, problem = None, str(kept.get("weights_problem") or "")
        if kept.get("weights") is not None and not problem:
            try:
                weights = decode_weights(kept["weights"])
            except WeightsError as error:
                problem = str(error)
        return Submission(weights, problem, self.data_root)

    def _process(self, index, cell):
        ids = part_ids(cell.source) if is_test_cell(cell) else []
        if ids:
            if self.gave_up or self.budget.exhausted:
                self._leave_to_instructor(cell, ids)
            else:
                self._grade_cell(index, cell, ids)
            return
        if is_test_cell(cell):
            self.log.warning("Test cell %s names no check(...) part: running it inside the kernel", grade_id(cell))
        if is_colab_only(cell):
            cell.outputs = [note(NOT_RUN_NOTE), *labelled(self.submitted_outputs.get(grade_id(cell), []))]
            self.runs.append(RunRecord(index, grade_id(cell), "skipped: Colab only", 0.0))
        elif self.gave_up or self.budget.exhausted:
            why = "the kernel kept dying" if self.gave_up else "the notebook's grading time ran out"
            cell.outputs = [note(f"Not run by the autograder: {why}.")]
            self.runs.append(RunRecord(index, grade_id(cell),
                                       "not run: kernel gave up" if self.gave_up else "not run: out of time", 0.0))
        else:
            self._run_student_cell(index, cell)
            if is_manually_graded_code(cell):
                cell.outputs.extend(labelled(self.submitted_outputs.get(grade_id(cell), [])))

    # ------------------------------------------------------------------ the kernel

    def _start_kernel(self):
        data_env = grading_data.prepare(self.data_root)
        self.probe_code = transport.write_code(self.workspace.shipped)
        db_url = self.resources.get("nbgrader", {}).get("db_url", "")
        self.km = confined_kernel(
            self.workspace, kernel_uid=self.kernel_uid, require_sandbox=self.require_sandbox, log=self.log,
            read_dirs=list(data_env.values()), deny_paths=denied_paths(os.getcwd(), os.path.dirname(course.__file__), db_url),
            memory_mb=self.memory_limit_mb, max_processes=self.max_kernel_processes,
            kernel_name=self.nb.metadata.get("kernelspec", {}).get("name", "python3"), config=self.config)
        self.owns_km = True
        self.start_new_kernel(cwd=self.workspace.work, env=self.workspace.environment(self.kernel_threads, data_env))
        self.start_new_kernel_client()
        info = self.wait_for_reply(self.kc.kernel_info())
        self.nb.metadata["language_info"] = info["content"]["language_info"]

    def _stop_kernel(self):
        """Stop the kernel if one runs; never raises (a kernel may already be gone)."""
        if self.km is None:
            return
        try:
            self._cleanup_kernel()
        except Exception:  # a kernel that died mid-shutdown: nothing of the student's to keep
            self.log.warning("The kernel did not shut down cleanly:\n%s", traceback.format_exc())
        self.km, self.kc = None, None

    def _restart_kernel(self, reason: str):
        """Start a fresh kernel and replay the cells that had run, while the restart budget lasts."""
        started = time.monotonic()
        self._stop_kernel()
        if not self.budget.may_restart:
            self.gave_up = True
            self.log.error("Kernel restarts took %.0f s (budget %d s): the rest of the notebook is not graded",
                           self.budget.restarting, self.restart_budget)
            return
        self.log.warning("Restarting the kernel (%s)", reason)
        self.restarts += 1
        try:
            self._start_kernel()
            failed = next((index for index in self.replayable if self.run_probe_code(
                self.nb.cells[index].source, self.budget.limit(self.cell_limit)) is not Status.GRADED), None)
        finally:
            self.budget.charge_restart(time.monotonic() - started)
        if failed is not None:
            self.replayable.remove(failed)
            self._restart_kernel(f"cell {failed} failed when replayed")

    def run_probe_code(self, code: str, timeout: float) -> Status:
        """Run ``code`` in the kernel (the :class:`~course.grade.subject.KernelRunner` protocol)."""
        if self.kc is None:
            return Status.KERNEL_DIED
        return run_sync(self._async_run_code)(code, timeout)

    async def _async_run_code(self, code: str, timeout: float) -> Status:
        """Run ``code`` silently; interrupt it at ``timeout``, and give up on the kernel if it then
        stays silent (the caller restarts it)."""
        msg_id = await ensure_async(self.kc.execute(code, silent=True, store_history=False,
                                                    allow_stdin=False, stop_on_error=False))
        deadline, interrupted = time.monotonic() + timeout, False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if interrupted:
                    self._hung = True
                    return Status.TIMEOUT
                await ensure_async(self.km.interrupt_kernel())
                interrupted, deadline = True, time.monotonic() + self.interrupt_grace
                continue
            try:
                message = await ensure_async(self.kc.shell_channel.get_msg(timeout=min(1.0, remaining)))
            except Empty:
                if not await ensure_async(self.km.is_alive()):
                    return Status.KERNEL_DIED
                continue
            if message["parent_header"].get("msg_id") == msg_id:
                return Status.TIMEOUT if interrupted else Status.GRADED

    def _kernel_healthy(self) -> bool:
        self._hung = False
        return self.run_probe_code("pass", PING_TIMEOUT) is Status.GRADED

    # ------------------------------------------------------------------ student cells

    def output(self, outs, msg, display_id, cell_index):
        """nbclient's output handler, with each cell's outputs cut at ``max_output_bytes`` (one note)."""
        out = super().output(outs, msg, display_id, cell_index)
        if out is None:
            return out
        self._output_bytes[cell_index] = keep_within(outs, self._output_bytes.get(cell_index, 0), self.max_output_bytes)
        return out if any(kept is out for kept in outs) else None

    def _run_student_cell(self, index, cell):
        started, outcome = time.monotonic(), "ran"
        self.timeout = max(math.ceil(self.budget.limit(self.cell_limit)), 1)  # nbclient takes whole seconds
        try:
            self.execute_cell(cell, index, store_history=True)
            timed_out = any(o.output_type == "error" and o.ename == "CellTimeoutError" for o in cell.outputs)
            if any(o.output_type == "error" for o in cell.outputs):
                outcome = "error"
        except DeadKernelError:
            cell.outputs.append(error_output(
                "KernelDied", "this cell crashed the Python kernel (or used too much memory); the grader "
                              "restarted the kernel, re-ran the cells before this one and went on without it"))
            self.runs.append(RunRecord(index, grade_id(cell), "kernel died", round(time.monotonic() - started, 2)))
            self._restart_kernel(f"cell {index} killed it")
            return
        except CellTimeoutError:  # interrupted, and the kernel did not even finish its output
            timed_out = True
        finally:
            self.timeout = self.cell_limit
        if timed_out:
            cell.outputs.append(error_output("CellTimeoutError", f"this cell ran past the limit of "
                                                                 f"{self.cell_limit:g} s in grading and was stopped"))
            self.runs.append(RunRecord(index, grade_id(cell), "timeout", round(time.monotonic() - started, 2)))
            if not self._kernel_healthy():
                self._restart_kernel(f"cell {index} hung")
            return
        self.runs.append(RunRecord(index, grade_id(cell), outcome, round(time.monotonic() - started, 2)))
        self.replayable.append(index)

    # ------------------------------------------------------------------ test cells

    def _grade_cell(self, index, cell, ids):
        sources = [c.source for c in self.nb.cells[:index] if c.cell_type == "code" and not is_test_cell(c)]
        graded = []
        for pid in ids:
            if self.gave_up or self.budget.exhausted:
                graded.append((pid, PartResult(pid, pid, status=Status.NOT_GRADED), 0.0))
                continue
            started = time.monotonic()
            self._hung = False
            result = self._grade_part(pid, sources)
            graded.append((pid, result, time.monotonic() - started))
            if result.status is Status.GRADER_ERROR:
                self.log.error("Grader error in part %s (cell %s):\n%s", pid, grade_id(cell), result.note)
            if result.status is Status.KERNEL_DIED or self._hung:
                self._restart_kernel(f"grading {pid} stopped the kernel")
            elif result.status in (Status.TIMEOUT, Status.OUT_OF_MEMORY) and not self._kernel_healthy():
                self._restart_kernel(f"grading {pid} left the kernel unresponsive")
        self._write_outputs(cell, graded)

    def _grade_part(self, pid: str, sources: list[str]) -> PartResult:
        """One part, within its time limit and what is left of the notebook's."""
        try:
            limit = part_limit(pid, find_part(pid).kind)
        except KeyError:  # an unknown part: grade_part reports it as a grader error
            limit = self.probe_timeout
        subject = KernelSubject(self, self.workspace.io, self.probe_code, sources, min(self.probe_timeout, self.budget.limit(limit)),
                                self.submission)
        return grade_part(pid, subject)

    def _leave_to_instructor(self, cell, ids):
        """A test cell reached after the notebook's time ran out or its kernel gave up: not graded."""
        self._write_outputs(cell, [(pid, PartResult(pid, pid, status=Status.NOT_GRADED), 0.0) for pid in ids])

    def _write_outputs(self, cell, graded):
        """The test cell's outputs: every part's feedback, then the points as the last value."""
        max_points = float(cell.metadata.nbgrader.get("points", 0))
        parts_shares = points.shares(max_points, [_declared_points(pid) for pid, _, _ in graded])
        reports = [result.report(share) for (_, result, _), share in zip(graded, parts_shares)]
        earned = points.cell_total([result.points(share) for (_, result, _), share in zip(graded, parts_shares)],
                                   max_points)
        self.code_cells_executed += 1
        cell.execution_count = self.code_cells_executed
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="\n\n".join(reports) + "\n"),
                        nbformat.v4.new_output("execute_result", data={"text/plain": f"{earned:g}"},
                                               execution_count=cell.execution_count)]
        statuses = {result.status for _, result, _ in graded}
        course_report = self.resources[COURSE_RESOURCES]
        if Status.GRADER_ERROR in statuses:
            course_report["grader_errors"].append(grade_id(cell))
        elif statuses & set(NEEDS_INSTRUCTOR):
            course_report["not_graded"].append(grade_id(cell))
        self.cell_records.append(CellRecord(grade_id(cell), earned, max_points, [
            PartRecord(pid, result.status.value, round(result.fraction, 4), result.disqualified, round(seconds, 2),
                       [FailedCheck(f.what, f.detail) for f in result.findings if not f.passed], _kind(pid))
            for pid, result, seconds in graded]))

    # ------------------------------------------------------------------ the record

    def _write_record(self, seconds: float):
        info = self.resources.get("nbgrader", {})
        if not info.get("student"):
            return
        unreadable = bool(self.nb.cells) and UNREADABLE_MARKER in self.nb.cells[0].source
        course_report = self.resources[COURSE_RESOURCES]
        GradingRecord(info["student"], info["assignment"], info["notebook"], round(seconds, 2), self.restarts,
                      self.gave_up, unreadable, course_report["grader_errors"], self.cell_records,
                      course_report["not_graded"], self.runs).write(self.record_dir)


def _declared_points(part_id: str) -> float:
    """The points a part's grader declares (1 for a part no grader knows: it is a grader error)."""
    try:
        return find_part(part_id).points
    except KeyError:
        return 1.0


def _kind(part_id: str) -> str:
    try:
        return find_part(part_id).kind
    except KeyError:
        return "probes"
