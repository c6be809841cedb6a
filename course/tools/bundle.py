"""The course bundle of a run on a cluster (:class:`course.tools.grading_task.CourseBundle`), made once by the
instructor's process from the course folder and sent to each worker that grades."""

import os
import tempfile

from course.assignment import ASSIGNMENT, REFERENCE_FOLDER
from course.data import grading as grading_data
from course.dburl import sqlite_path
from course.tools import late
from course.tools.gradebook import write_template
from course.tools.grading_task import CONFIG, GRADEBOOK, CourseBundle, FileCopy, package_fingerprint, read_tree
from course.tools.settings import course_config


def course_bundle(root: str, db_url: str, data_root: str) -> CourseBundle:
    """The bundle of the course in ``root`` whose gradebook is ``db_url`` and grading data ``data_root``."""
    with open(os.path.join(root, CONFIG), "rb") as f:
        files = {CONFIG: FileCopy(f.read(), 0o644)}
    for folder, keep in ((os.path.join("release", ASSIGNMENT), lambda path: path.endswith(".ipynb")),
                         (os.path.join("source", ASSIGNMENT), lambda path: True),
                         (REFERENCE_FOLDER, lambda path: path.endswith(".ipynb"))):
        for relative, copy in read_tree(os.path.join(root, folder), keep).items():
            files[os.path.join(folder, relative)] = copy
    files.update(course_files_of_policy(root))
    with tempfile.TemporaryDirectory() as scratch:
        with open(sqlite_path(write_template(db_url, os.path.join(scratch, GRADEBOOK))), "rb") as f:
            template = f.read()
    data_root = os.path.abspath(data_root)
    return CourseBundle(package_fingerprint(), files, template, data_root, grading_data.dataset_version(data_root))


def course_files_of_policy(root: str) -> dict[str, FileCopy]:
    """The files of the course in ``root`` that its late policy reads (the extensions CSV), when they lie in
    the course folder: a worker's private course folder then has them at the place the configuration names."""
    extensions = late.policy(course_config(root)).extensions
    if not extensions or not os.path.isfile(extensions):
        return {}
    relative = os.path.relpath(os.path.realpath(extensions), os.path.realpath(root))
    if relative.startswith(os.pardir):
        return {}  # outside the course: read where the configuration names it (the same machine, or a shared path)
    with open(extensions, "rb") as f:
        return {relative: FileCopy(f.read(), 0o644)}
