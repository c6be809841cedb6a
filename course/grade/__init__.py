"""Graders of the course's notebooks, and the one function hidden test cells call.

A hidden test cell reads::

    ### BEGIN HIDDEN TESTS
    from course.grade import check
    check("hw2_cnn.conv2d_forward", globals())
    ### END HIDDEN TESTS

Under protected grading (``nbgrader autograde`` with the course's ``nbgrader_config.py``) the cell is
never run inside the student's kernel: the executor reads the part id from it and runs the grader in
its own process against the kernel. Anywhere else (``nbgrader validate``, an instructor running the
source notebook) the cell runs as written and grades the cell's own namespace in place; the trained
weights a notebook stored in its outputs are then out of its reach, unless ``$COURSE_WEIGHTS`` names a
file holding that output's JSON (``application/vnd.course.weights+json``).
"""

import contextlib
import io
import json
import os
import warnings

WEIGHTS_FILE = "COURSE_WEIGHTS"  # environment variable: a submitted-weights file for in-place grading


def in_place_submission():
    """What in-place grading knows besides the code: the weights of ``$COURSE_WEIGHTS``, if set."""
    from course.grade.subject import Submission
    from course.grade.weights import WeightsError, decode_weights

    from course.data.grading import DATA_ENV

    path, data_root = os.environ.get(WEIGHTS_FILE), os.environ.get(DATA_ENV)
    defaults = Submission()
    if not path:
        return Submission(data_root=data_root or defaults.data_root)
    try:
        with open(path) as f:
            return Submission(decode_weights(json.load(f)), "", data_root or defaults.data_root)
    except (OSError, ValueError, WeightsError) as error:
        return Submission(None, f"{path}: {error}", data_root or defaults.data_root)


def check(part_id: str, namespace: dict) -> float:
    """Grade part ``part_id`` against the objects in ``namespace``; print the feedback and return
    the points earned (the cell's last value, which nbgrader reads as partial credit).

    Nothing reaches stderr: a warning printed there would make nbgrader score the cell zero.
    """
    from course.grade.checker import find_part, grade_part
    from course.grade.subject import LocalSubject

    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        result = grade_part(part_id, LocalSubject(namespace, in_place_submission()))
    max_points = find_part(part_id).points
    print(result.report(max_points))
    return result.points(max_points)
