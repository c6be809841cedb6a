"""The folders and the environment of one graded notebook's kernel, and what the kernel may not see.

Each notebook is graded in a fresh workspace: a private working folder (the kernel's, with its own home,
temporary and configuration folders) and beside it a folder for the probe files. Both belong to the
kernel's user (:meth:`Workspace.hand_over`); the workspace's root stays the grader's, so the kernel cannot
swap the probe folder for a link, and the grader opens the files in it without following links
(:mod:`course.probes.codec`).
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

PASSED_ON = ("NBGRADER_EXECUTION",)  # the grader's variables a kernel gets: nbgrader's mode (the notebooks read it)
KERNEL_FOLDERS = (".home", ".tmp", ".ipython", ".matplotlib")


class Workspace:
    """The folders of one graded notebook: the kernel's working directory and the probe files."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="course-grading-")
        self.work = os.path.join(self.root, "work")  # the kernel's working directory
        self.io = os.path.join(self.root, "probes")  # the probe files: written by the grader and the kernel
        for folder in KERNEL_FOLDERS:
            os.makedirs(os.path.join(self.work, folder))
        os.chmod(self.work, WORKDIR_MODE)
        os.makedirs(self.io)

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
