"""A small class collected from a Canvas download and graded once, for the report, late-work and LMS tests."""

import datetime
from dataclasses import dataclass
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from course.tools.autograde import autograde
from course.tools.cli import main
from course.tools.samples import DEMO_BUGS, Handed, Sample, canvas_download
from course.tools.settings import db_url
from support import make_course

DUE = datetime.datetime(2026, 11, 15, 23, 59)  # UTC
DAY = datetime.timedelta(days=1)
ANN_CELLS = {"conv_output_size", "conv_layer_cost", "answers_output_size", "answers_valid_conv", "lp_limits"}


@dataclass
class GradedClass:
    """The course folder, the Canvas user id of each student, when each handed in."""

    root: Path
    user_ids: dict[str, str]
    handed: dict[str, Handed]

    @property
    def db_url(self) -> str:
        return db_url(str(self.root))


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory) -> GradedClass:
    """Four hw2_cnn submissions in a Canvas zip, collected, autograded, one written answer graded by a TA.

    ann hands in after the due date but Canvas marks her on time (its zip times are the download's), with
    a written answer for the TAs; ben is ann's copy, 1.5 days late by Canvas; cat is 2 days late with a 3-day extension and a bug in
    conv2d_forward; dan hands in the untouched release before the due date.
    """
    root = make_course(tmp_path_factory.mktemp("class"))
    (root / "extensions.csv").write_text("student_id,days\ncat,3\n")
    with open(root / "nbgrader_config.py", "a") as config:
        config.write(f'\nc.LatePolicy.duedate = "{DUE:%Y-%m-%d %H:%M:%S} UTC"\n'
                     'c.LatePolicy.extensions = os.path.join(ROOT, "extensions.csv")\n')
    samples = [Sample("ann", {"hw2_cnn": ANN_CELLS}, only={"hw2_cnn"}),
               Sample("ben", {"hw2_cnn": ANN_CELLS}, only={"hw2_cnn"}),
               Sample("cat", {"hw2_cnn": {"conv_output_size", "conv2d_forward"}}, bugs=DEMO_BUGS[:1], only={"hw2_cnn"}),
               Sample("dan", only={"hw2_cnn"})]
    handed = {"ann": Handed(DUE + 2 * DAY), "ben": Handed(DUE + 1.5 * DAY, late=True),
              "cat": Handed(DUE + 2 * DAY, late=True), "dan": Handed(DUE - DAY / 24)}
    download = canvas_download(str(root), samples, str(root / "canvas.zip"), handed)
    assert main(["--root", str(root), "collect", download.path]) == 0
    outcomes = autograde(str(root), [s.student for s in samples], db_url(str(root)), workers=2, force=True, progress=False)
    assert all(o.ok for o in outcomes), [o.log for o in outcomes if not o.ok]
    with Gradebook(db_url(str(root))) as gradebook:  # a TA grades ann's written answer in the formgrader
        written = gradebook.find_grade("written_training", "hw2_cnn", "hw2", "ann")
        written.manual_score, written.needs_manual_grade = 1.5, False
        gradebook.db.commit()
    assert main(["--root", str(root), "export"]) == 0
    return GradedClass(root, download.user_ids, handed)
