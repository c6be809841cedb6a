"""nbgrader's Execute step, hardened for submissions that may be broken or hostile.

:class:`GuardedExecute` replaces ``Execute`` in ``Autograde.autograde_preprocessors``. It runs the
student's cells in a sandboxed kernel (:mod:`course.sandbox`), cell by cell as nbgrader does, but:

* test cells are *not* sent to the kernel. The part ids named by their hidden ``check(...)`` calls
  (read from the cell as restored from the gradebook) are graded here, in the grading process,
  through probes (:mod:`course.grade.subject`); the cell's outputs, which nbgrader turns into the
  score, are written by this class alone, so nothing the student's code does to the kernel can
  fake them;
* a hang is interrupted, and a kernel that died or stopped answering is restarted and the cells
  that had run are replayed, so a crash costs only the parts that depend on the crashed code;
* every grader failure (a bug on our side) is logged and reported to the instructor instead of
  being scored as the student's zero (see :class:`course.pipeline.flag.FlagGraderErrors`);
* a record of every part's status, points and time is written for the instructor's tools.
"""

import os
import time
from queue import Empty

import nbformat
from jupyter_core.utils import ensure_async, run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, Unicode

import course
from course.data import grading as grading_data
from course.grade.checker import find_part, grade_part
from course.grade.result import PartResult, Status
from course.grade.subject import KernelSubject
from course.pipeline import points
from course.pipeline.markers import grade_id, is_test_cell, part_ids
from course.pipeline.record import CellRecord, FailedCheck, GradingRecord, PartRecord
from course.pipeline.sanitize import UNREADABLE_MARKER
from course.pipeline.workspace import Workspace, denied_paths
from course.sandbox.bubblewrap import KERNEL_UID
from course.sandbox.manager import SandboxKernelManager, sandbox_layers

PING_TIMEOUT = 20.0  # seconds a healthy idle kernel takes, at most, to answer
COURSE_RESOURCES = "course"  # resources[...] key under which this step reports to later steps


def error_output(name: str, message: str):
    """An error output as a cell's own error would show it."""
    return nbformat.v4.new_output("error", ename=name, evalue=message, traceback=[f"{name}: {message}"])


class GuardedExecute(Execute):
    """Execute a submission in a sandboxed kernel and grade its test cells from outside it."""

    probe_timeout = Integer(300, help="Seconds one grader probe (one call into student code) may run.").tag(config=True)
    interrupt_grace = Integer(20, help="Seconds a kernel gets to stop after an interrupt before it is killed.").tag(config=True)
    memory_limit_mb = Integer(6144, help="Heap limit of a grading kernel in MiB.").tag(config=True)
    max_kernel_restarts = Integer(3, help="Kernel restarts per notebook before the rest is left ungraded.").tag(config=True)
    kernel_threads = Integer(1, help="Torch/OpenMP threads of a grading kernel (one per parallel grader).").tag(config=True)
    data_root = Unicode("data/grading", help="Folder of the data the notebooks read while graded.").tag(config=True)
    record_dir = Unicode("reports/grading", help="Where the per-notebook grading records go.").tag(config=True)
    require_sandbox = Bool(True, help="Refuse to grade when the OS cannot confine the kernel (no Landlock, "
                                      "no bubblewrap or no user namespaces).").tag(config=True)
    kernel_uid = Integer(KERNEL_UID, help="uid (and gid) of grading kernels when grading runs as root; no account "
                                          "or file of the machine may use it.").tag(config=True)
    max_kernel_processes = Integer(256, help="Processes and threads a grading kernel may run at once.").tag(config=True)

    # ------------------------------------------------------------------ the step

    def preprocess(self, nb, resources, km=None):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self.resources.setdefault(COURSE_RESOURCES, {"grader_errors": []})
        self.workspace = Workspace()
        self.replayable: list[int] = []  # cells that ran to the end: replayed after a restart
        self.restarts, self.gave_up, self._hung = 0, False, False
        self.cell_records: list[CellRecord] = []
        started = time.monotonic()
        try:
            self._start_kernel()
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type == "code" and cell.source.strip():
                    self._process(index, cell)
        finally:
            self._cleanup_kernel()
            self.workspace.remove()
            self._write_record(time.monotonic() - started)
        return self.nb, self.resources

    def _process(self, index, cell):
        ids = part_ids(cell.source) if is_test_cell(cell) else []
        if self.gave_up:
            if is_test_cell(cell):
                self._write_outputs(cell, [(pid, PartResult(pid, pid, status=Status.KERNEL_DIED), 0.0) for pid in ids or ["?"]])
            return
        if ids:
            self._grade_cell(index, cell, ids)
        else:
            if is_test_cell(cell):
                self.log.warning("Test cell %s names no check(...) part: running it inside the kernel",
                                 grade_id(cell))
            self._run_student_cell(index, cell)

    # ------------------------------------------------------------------ the kernel

    def _start_kernel(self):
        uid_as_root = self.kernel_uid if os.geteuid() == 0 else None
        layers = sandbox_layers(uid_as_root)
        if layers.missing and self.require_sandbox:
            raise RuntimeError("Student code cannot be confined on this machine: " + "; ".join(layers.missing)
                               + ". Fix that, or set GuardedExecute.require_sandbox = False to grade without "
                                 "the missing layers.")
        for missing in layers.missing:
            self.log.warning("Grading without part of the sandbox: %s", missing)
        uid = uid_as_root if layers.namespaces else None  # without bwrap the kernel keeps this process's uid
        self.workspace.hand_over(uid)
        data_env = grading_data.prepare(self.data_root)
        db_url = self.resources.get("nbgrader", {}).get("db_url", "")
        deny = denied_paths(os.getcwd(), os.path.dirname(course.__file__), db_url)
        self.km = SandboxKernelManager(
            kernel_name=self.nb.metadata.get("kernelspec", {}).get("name", "python3"), config=self.config,
            workdir=self.workspace.work, write_dirs=[self.workspace.io], read_dirs=list(data_env.values()),
            deny_paths=deny, memory_mb=self.memory_limit_mb, max_processes=self.max_kernel_processes, uid=uid,
            isolated=layers.namespaces, unconfined=not layers.landlock)
        self.owns_km = True
        self.start_new_kernel(cwd=self.workspace.work, env=self.workspace.environment(self.kernel_threads, data_env))
        self.start_new_kernel_client()
        info = self.wait_for_reply(self.kc.kernel_info())
        self.nb.metadata["language_info"] = info["content"]["language_info"]

    def _restart_kernel(self, reason: str):
        """Start a fresh kernel and replay the cells that had run, unless restarts are used up."""
        self.log.warning("Restarting the kernel (%s)", reason)
        self._cleanup_kernel()
        self.restarts += 1
        if self.restarts > self.max_kernel_restarts:
            self.gave_up = True
            self.log.error("Kernel restarted %d times: the rest of the notebook is not graded", self.restarts - 1)
            return
        self._start_kernel()
        for index in list(self.replayable):
            if self.run_probe_code(self.nb.cells[index].source, self.timeout or 600) is not Status.GRADED:
                self.replayable.remove(index)
                self._restart_kernel(f"cell {index} failed when replayed")
                return

    def run_probe_code(self, code: str, timeout: float) -> Status:
        """Run ``code`` in the kernel (the :class:`~course.grade.subject.KernelRunner` protocol)."""
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

    def _run_student_cell(self, index, cell):
        try:
            self.execute_cell(cell, index, store_history=True)
            timed_out = any(o.output_type == "error" and o.ename == "CellTimeoutError" for o in cell.outputs)
        except DeadKernelError:
            cell.outputs.append(error_output(
                "KernelDied", "this cell crashed the Python kernel (or used too much memory); the grader "
                              "restarted the kernel, re-ran the cells before this one and went on without it"))
            self._restart_kernel(f"cell {index} killed it")
            return
        except CellTimeoutError:  # interrupted, and the kernel did not even finish its output
            timed_out = True
        if timed_out:
            cell.outputs.append(error_output("CellTimeoutError", f"this cell ran past the limit of {self.timeout} s "
                                                                 "and was stopped"))
            if not self._kernel_healthy():
                self._restart_kernel(f"cell {index} hung")
            return
        self.replayable.append(index)

    # ------------------------------------------------------------------ test cells

    def _grade_cell(self, index, cell, ids):
        sources = [c.source for c in self.nb.cells[:index] if c.cell_type == "code" and not is_test_cell(c)]
        subject = KernelSubject(self, self.workspace.io, sources, self.probe_timeout)
        graded = []
        for pid in ids:
            started = time.monotonic()
            self._hung = False
            result = grade_part(pid, subject)
            graded.append((pid, result, time.monotonic() - started))
            if result.status is Status.GRADER_ERROR:
                self.log.error("Grader error in part %s (cell %s):\n%s", pid, grade_id(cell), result.note)
                self.resources[COURSE_RESOURCES]["grader_errors"].append(grade_id(cell))
            if result.status is Status.KERNEL_DIED or self._hung:
                self._restart_kernel(f"grading {pid} stopped the kernel")
            elif result.status in (Status.TIMEOUT, Status.OUT_OF_MEMORY) and not self._kernel_healthy():
                self._restart_kernel(f"grading {pid} left the kernel unresponsive")
            if self.gave_up:
                break
        graded += [(pid, PartResult(pid, pid, status=Status.KERNEL_DIED), 0.0) for pid in ids[len(graded):]]
        self._write_outputs(cell, graded)

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
        self.cell_records.append(CellRecord(grade_id(cell), earned, max_points, [
            PartRecord(pid, result.status.value, round(result.fraction, 4), result.disqualified, round(seconds, 2),
                       [FailedCheck(f.what, f.detail) for f in result.findings if not f.passed])
            for pid, result, seconds in graded]))

    # ------------------------------------------------------------------ the record

    def _write_record(self, seconds: float):
        info = self.resources.get("nbgrader", {})
        if not info.get("student"):
            return
        unreadable = bool(self.nb.cells) and UNREADABLE_MARKER in self.nb.cells[0].source
        GradingRecord(info["student"], info["assignment"], info["notebook"], round(seconds, 2), self.restarts,
                      self.gave_up, unreadable, self.resources[COURSE_RESOURCES]["grader_errors"],
                      self.cell_records).write(self.record_dir)


def _declared_points(part_id: str) -> float:
    """The points a part's grader declares (1 for a part no grader knows: it is a grader error)."""
    try:
        return find_part(part_id).points
    except KeyError:
        return 1.0
