"""Throw-away course folders: a copy of the configuration and the sources, with the release generated."""

import os
import shutil

from course.tools.nbgrader_cmd import nbgrader
from course.assignment import ASSIGNMENT


def make_course(root: str, repo: str, data_root: str | None = None) -> str:
    """Copy ``repo``'s nbgrader configuration and ``source/`` into ``root`` and run
    ``nbgrader generate_assignment`` there, as an instructor's first command would. With ``data_root``,
    the course's grading data folder (``data/grading``) is that folder, shared. Returns ``root``."""
    if data_root:
        os.makedirs(os.path.join(root, "data"), exist_ok=True)
        os.symlink(os.path.abspath(data_root), os.path.join(root, "data", "grading"))
    shutil.copy(os.path.join(repo, "nbgrader_config.py"), root)
    shutil.copytree(os.path.join(repo, "source"), os.path.join(root, "source"))
    nbgrader(["generate_assignment", ASSIGNMENT, "--force"], root, log_path=os.path.join(root, "reports", "generate.log"))
    return root
