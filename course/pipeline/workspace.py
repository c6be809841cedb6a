"""The folders and the environment of one graded notebook's kernel, and what the kernel may not see.

Each notebook is graded in a fresh workspace: a private working folder (the kernel's, with its own home,
temporary and configuration folders) and beside it a folder for the probe files. Both belong to the
kernel's user (:meth:`Workspace.hand_over`); the workspace's root stays the grader's, so the kernel cannot
swap the probe folder for a link, and the grader opens the files in it without following links
(:mod:`course.probes.codec`). A third folder holds what the grader ships to the kernel read-only (the
compiled probes, :func:`course.grade.transport.write_code`): it stays the grader's.
The kernel's environment is an allow-list (:meth:`Workspace.environment`): no variable of the grading
process reaches student code unless it is named there.
The deny policy names the paths carved out of everything the kernel may read: the course folder,
the hidden package, the repository it is installed from and the folder of an SQLite gradebook.
"""

import os
import shutil
import sys
import tempfile

from course.dburl import sqlite_path
from course.same_numbers import SAME_NUMBERS_ENV
from course.sandbox.bubblewrap import WORKDIR_MODE
from course.sandbox.manager import SandboxKernelManager, sandbox_layers

PASSED_ON = ("NBGRADER_EXECUTION",)  # the grader's variables a kernel gets: nbgrader's mode (the notebooks read it)
KERNEL_FOLDERS = (".home", ".tmp", ".ipython", ".matplotlib")
SHIPPED_MODE = 0o755  # readable by the kernel's uid, writable by the grader alone


class Workspace:
    """The folders of one graded notebook: the kernel's working directory, the probe files and what is
    shipped to the kernel read-only."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="course-grading-")
        self.work = os.path.join(self.root, "work")  # the kernel's working directory
        self.io = os.path.join(self.root, "probes")  # the probe files: written by the grader and the kernel
        for folder in KERNEL_FOLDERS:
            os.makedirs(os.path.join(self.work, folder))
        os.chmod(self.work, WORKDIR_MODE)
        os.makedirs(self.io)
        self.shipped = os.path.join(self.root, "shipped")  # the kernel reads it, never writes it
        os.makedirs(self.shipped, mode=SHIPPED_MODE)
        os.chmod(self.shipped, SHIPPED_MODE)

    def environment(self, threads: int, extra: dict) -> dict:
        """The kernel's whole environment: the workspace's folders, a plain ``PATH`` and locale, ``threads``
        threads per math library, the settings for the same numbers everywhere, the variables of
        :data:`PASSED_ON` this process has, and ``extra``. Nothing else of this process's environment."""
        env = {
            "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
            "LANG": "C.UTF-8",
            "HOME": os.path.join(self.work, ".home"),
            "TMPDIR": os.path.join(self.work, ".tmp"),
            "IPYTHONDIR": os.path.join(self.work, ".ipython"),
            "MPLCONFIGDIR": os.path.join(self.work, ".matplotlib"),
            "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
            "PYTHONHASHSEED": "0",
            **SAME_NUMBERS_ENV,  # the same training run on every grading machine
            **{name: os.environ[name] for name in PASSED_ON if name in os.environ},
        }
        env.update(extra)
        return env

    def hand_over(self, uid: int | None) -> None:
        """Give the kernel's folders to ``uid`` (and the group of the same number); None: keep them.
        Links the kernel may have left in their place are changed themselves, never followed."""
        if uid is None:
            return
        for folder in [self.work, self.io] + [os.path.join(self.work, f) for f in KERNEL_FOLDERS]:
            os.chown(folder, uid, uid, follow_symlinks=False)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def confined_kernel(workspace: Workspace, *, kernel_uid: int, require_sandbox: bool, log, read_dirs: list[str],
                    deny_paths: list[str], memory_mb: int, max_processes: int, **manager) -> SandboxKernelManager:
    """The manager of a kernel confined to ``workspace`` with every layer of the sandbox this machine has:
    as ``kernel_uid`` when this process is root (the workspace is handed over to it), reading only
    ``read_dirs`` and what the workspace ships, writing only its own folders.

    Raises:
        RuntimeError: when a layer is missing and ``require_sandbox`` (the message says what to fix).
    """
    uid_as_root = kernel_uid if os.geteuid() == 0 else None
    layers = sandbox_layers(uid_as_root)
    if layers.missing and require_sandbox:
        raise RuntimeError("Student code cannot be confined on this machine: " + "; ".join(layers.missing)
                           + ". Fix that, or set GuardedExecute.require_sandbox = False to grade without "
                             "the missing layers.")
    for missing in layers.missing:
        log.warning("Running student code without part of the sandbox: %s", missing)
    uid = uid_as_root if layers.namespaces else None  # without bwrap the kernel keeps this process's uid
    workspace.hand_over(uid)
    return SandboxKernelManager(workdir=workspace.work, write_dirs=[workspace.io],
                                read_dirs=[*read_dirs, workspace.shipped], deny_paths=deny_paths, memory_mb=memory_mb,
                                max_processes=max_processes, uid=uid, isolated=layers.namespaces,
                                unconfined=not layers.landlock, **manager)


def denied_paths(course_root: str, package_dir: str, db_url: str) -> list[str]:
    """The paths a grading kernel may not read: the course folder, the hidden package, the repository
    it is installed from (unless it is installed into site-packages) and an SQLite gradebook's folder."""
    deny = [course_root, package_dir]
    if os.path.basename(os.path.dirname(package_dir)) not in ("site-packages", "dist-packages"):
        deny.append(os.path.dirname(package_dir))
    database = sqlite_path(db_url)
    if database is not None:
        deny.append(os.path.dirname(os.path.abspath(database)))
    return deny
