"""Does the parallel autograde keep the gradebook whole: no lost, no duplicated grades, manual ones kept?"""

import csv
import sqlite3

import pytest
from nbgrader.api import Gradebook

from course.dburl import sqlite_path
from course.tools.autograde import autograde
from course.tools.cli import course_config, main
from course.tools.export import write_grades_csv, write_report
from course.tools.samples import Sample
from support import make_course


def db(root):
    return course_config(str(root)).CourseDirectory.db_url


def grade_rows(root, student):
    """Rows of the gradebook's grade table for this student's hw2_cnn."""
    path = sqlite_path(db(root))
    query = ("select count(*) from grade join submitted_notebook on grade.notebook_id = submitted_notebook.id "
             "join notebook on submitted_notebook.notebook_id = notebook.id "
             "join submitted_assignment on submitted_notebook.assignment_id = submitted_assignment.id "
             "where submitted_assignment.student_id = ? and notebook.name = 'hw2_cnn'")
    return sqlite3.connect(path).execute(query, (student,)).fetchone()[0]


@pytest.fixture(scope="module")
def graded_pair(tmp_path_factory):
    """Two students graded in parallel in a course of their own (the last test here changes it)."""
    root = make_course(tmp_path_factory.mktemp("pair"))
    for student in ("ann", "ben"):
        Sample(student, only={"hw2_cnn"}).submit(str(root))  # untouched releases: quick to grade
    outcomes = autograde(str(root), ["ann", "ben"], db(root), workers=2, force=True, progress=False)
    assert all(o.ok for o in outcomes)
    return root


def test_do_parallel_workers_write_every_student_into_the_gradebook(graded_pair):
    with Gradebook(db(graded_pair)) as gradebook:
        cells = len(gradebook.find_notebook("hw2_cnn", "hw2").grade_cells)
        assert {s.student.id for s in gradebook.find_assignment("hw2").submissions} == {"ann", "ben"}
    assert grade_rows(graded_pair, "ann") == grade_rows(graded_pair, "ben") == cells


def test_does_the_export_give_one_row_per_student_and_a_plot_per_notebook(graded_pair, tmp_path):
    path = write_grades_csv(db(graded_pair), str(tmp_path / "grades.csv"))
    rows = list(csv.DictReader(open(path)))
    assert [r["student_id"] for r in rows] == ["ann", "ben"]
    with Gradebook(db(graded_pair)) as gradebook:
        maximum = sum(c.max_score for nb in gradebook.find_assignment("hw2").notebooks for c in nb.grade_cells
                      if not c.name.startswith("ec_"))
    assert {r["hw2_cnn"] for r in rows} == {"0"} and {float(r["max_total"]) for r in rows} == {maximum}
    assert str(tmp_path / "hw2_cnn-parts.png") in write_report(db(graded_pair), str(tmp_path))


def test_does_a_rerun_neither_duplicate_grades_nor_lose_a_tas_manual_score(graded_pair):
    with Gradebook(db(graded_pair)) as gradebook:
        written = gradebook.find_grade("written_training", "hw2_cnn", "hw2", "ann")
        written.manual_score = 1.5
        gradebook.db.commit()
        rows = grade_rows(graded_pair, "ann")
    Sample("cat", only={"hw2_cnn"}).submit(str(graded_pair))
    outcomes = autograde(str(graded_pair), ["ann", "ben", "cat"], db(graded_pair), workers=2, force=False, progress=False)
    assert all(o.ok for o in outcomes)
    autograde(str(graded_pair), ["ann"], db(graded_pair), workers=1, force=True, progress=False)
    assert grade_rows(graded_pair, "ann") == rows == grade_rows(graded_pair, "cat")
    with Gradebook(db(graded_pair)) as gradebook:
        assert gradebook.find_grade("written_training", "hw2_cnn", "hw2", "ann").manual_score == 1.5


def test_does_the_command_refuse_a_broken_configuration(scratch_course):
    (scratch_course / "nbgrader_config.py").write_text("c = get_config()\nimport no_such_module\n")
    with pytest.raises(ModuleNotFoundError):
        main(["--root", str(scratch_course), "autograde"])
