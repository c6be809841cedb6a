"""Collecting an LMS bulk download into nbgrader's ``submitted/<student>/hw2/`` layout.

The LMS zip goes to ``downloaded/hw2/archive/``; nbgrader's ``zip_collect`` extracts it and asks
:class:`LmsFileNames` which student and which notebook each file is.
"""

import os
import re
import shutil

from nbgrader.plugins import FileNameCollectorPlugin

from course.tools.nbgrader_cmd import nbgrader
from course.assignment import ASSIGNMENT

# How common LMSs name the files of a bulk download (the student id is the LMS login or name).
LMS_PATTERNS = {
    # Canvas: smithjohn_12345_6789012_hw2_cnn.ipynb, smithjohn_LATE_12345_6789012_hw2_cnn-1.ipynb
    "canvas": re.compile(r"^(?P<student_id>[A-Za-z0-9.\-]+)_(?:late_)?\d+_\d+_(?P<file_id>.+?)(?:-\d+)?\.ipynb$", re.I),
    # Moodle: John Smith_12345_assignsubmission_file_hw2_cnn.ipynb
    "moodle": re.compile(r"^(?P<student_id>.+?)_\d+_assignsubmission_file_(?P<file_id>.+)\.ipynb$"),
    # Blackboard: hw2_jsmith_attempt_2026-11-01-10-00-00_hw2_cnn.ipynb
    "blackboard": re.compile(r"^.+?_(?P<student_id>[A-Za-z0-9.\-]+)_attempt_(?P<timestamp>[0-9\-]+)_(?P<file_id>.+)\.ipynb$"),
    # Anything else: <student>/<notebook>.ipynb inside the zip
    "folders": re.compile(r"^(?P<student_id>[^/]+)/(?P<file_id>[^/]+)\.ipynb$"),
}


def _slug(student: str) -> str:
    """A student id usable as a folder name (Moodle uses full names)."""
    return re.sub(r"[^A-Za-z0-9.\-]+", "_", student.strip()).strip("_").lower()


class LmsFileNames(FileNameCollectorPlugin):
    """Recognise Canvas, Moodle and Blackboard bulk-download names, and ``<student>/<notebook>.ipynb``."""

    def collect(self, submitted_file: str):
        if os.path.splitext(submitted_file)[1] not in self.valid_ext:
            return None
        name = os.path.basename(submitted_file)
        parent = os.path.basename(os.path.dirname(submitted_file))
        for pattern in LMS_PATTERNS.values():
            match = pattern.match(name) or pattern.match(f"{parent}/{name}")
            if match:
                found = match.groupdict()
                found["student_id"] = _slug(found["student_id"])
                found["file_id"] = found["file_id"] + ".ipynb"
                return found
        self.log.warning("Skipping %s: its name matches no known LMS pattern", submitted_file)
        return None


def collect(root: str, zip_path: str) -> list[str]:
    """Place the LMS zip where nbgrader expects it, run ``nbgrader zip_collect``, and list the result."""
    archive = os.path.join(root, "downloaded", ASSIGNMENT, "archive")
    os.makedirs(archive, exist_ok=True)
    shutil.copy(zip_path, archive)
    nbgrader(["zip_collect", ASSIGNMENT, "--force", "--ZipCollectApp.collector_plugin=course.tools.collect.LmsFileNames"], root)
    submitted = os.path.join(root, "submitted")
    return [os.path.join(student, ASSIGNMENT, name) for student in sorted(os.listdir(submitted))
            for name in sorted(os.listdir(os.path.join(submitted, student, ASSIGNMENT)))
            if name.endswith(".ipynb")]
