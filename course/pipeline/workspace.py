"""The folders and the environment of one graded notebook's kernel, and what the kernel may not see.

Each notebook is graded in a fresh workspace: a private working folder (the kernel's only writable
place, with its own home, temporary and configuration folders, and the folder of the probe files) and,
beside it, a folder of what the grading process ships to the kernel read-only (the compiled probes).
The deny policy names the paths carved out of everything the kernel may read: the course folder,
the hidden package, the repository it is installed from and the folder of an SQLite gradebook.
"""

import os
import shutil
import tempfile

from course.dburl import sqlite_path
from course.same_numbers import SAME_NUMBERS_ENV


class Workspace:
    """The folders of one graded notebook: the kernel's working directory, the probe files and what is
    shipped to the kernel read-only."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="course-grading-")
        self.work = os.path.join(self.root, "work")  # the kernel's only writable folder
        for sub in ("io", "tmp", "home", "ipython", "matplotlib"):
            os.makedirs(os.path.join(self.work, "." + sub if sub != "io" else ".probes"), exist_ok=True)
        self.io = os.path.join(self.work, ".probes")
        self.shipped = os.path.join(self.root, "shipped")  # the kernel reads it, never writes it
        os.makedirs(self.shipped)

    def environment(self, threads: int, extra: dict) -> dict:
        """The kernel's environment: this process's, with the workspace's folders, ``threads``
        threads per math library, the settings for the same numbers everywhere, and ``extra``."""
        env = dict(os.environ)
        env.update({
            "HOME": os.path.join(self.work, ".home"),
            "TMPDIR": os.path.join(self.work, ".tmp"),
            "IPYTHONDIR": os.path.join(self.work, ".ipython"),
            "MPLCONFIGDIR": os.path.join(self.work, ".matplotlib"),
            "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
            "PYTHONHASHSEED": "0",
            **SAME_NUMBERS_ENV,  # the same training run on every grading machine
        })
        env.update(extra)
        return env

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
