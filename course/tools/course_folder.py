"""Throw-away course folders: a copy of the configuration and the sources, with the release generated."""

import os
import shutil

from course.tools.nbgrader_cmd import nbgrader
from course.assignment import ASSIGNMENT


def make_course(root: str, repo: str) -> str:
    """Copy ``repo``'s nbgrader configuration and ``source/`` into ``root`` and run
    ``nbgrader generate_assignment`` there, as an instructor's first command would. Returns ``root``."""
    shutil.copy(os.path.join(repo, "nbgrader_config.py"), root)
    shutil.copytree(os.path.join(repo, "source"), os.path.join(root, "source"))
    nbgrader(["generate_assignment", ASSIGNMENT, "--force"], root, log_path=os.path.join(root, "reports", "generate.log"))
    return root
