"""The course's nbgrader configuration as the tools read it (nbgrader_config.py in the course folder)."""

import os

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader


def course_config(root: str) -> Config:
    """The course's nbgrader configuration, loaded the way nbgrader loads it (a broken file is an error
    here: nbgrader itself would silently fall back to unprotected defaults)."""
    return PyFileConfigLoader("nbgrader_config.py", path=root).load_config()


def db_url(root: str) -> str:
    """The gradebook URL of the course in ``root``."""
    return course_config(root).CourseDirectory.db_url


def grading_data_root(root: str) -> str:
    """The grading data folder of the course in ``root`` (``GuardedExecute.data_root``, relative to it)."""
    folder = course_config(root).get("GuardedExecute", {}).get("data_root", os.path.join("data", "grading"))
    return os.path.join(root, folder)
