"""Is late work penalised by the policy, from what the LMS download said, and on-time work not?"""

import csv
import datetime

import pytest
from nbgrader.api import Gradebook
from traitlets.config import Config

from course.tools.collect import parse_lms_name, read_lms_submission
from course.tools.late import LatePolicy, penalty_share, read_extensions

HOUR = 3600


@pytest.mark.parametrize("seconds, share", [(0, 0.0), (-5, 0.0), (1, 0.1), (24 * HOUR, 0.1), (24 * HOUR + 1, 0.2),
                                            (10 * 24 * HOUR, 0.5)])
def test_does_the_penalty_grow_per_started_day_up_to_the_cap(seconds, share):
    assert penalty_share(seconds, 0.1, 0.5) == pytest.approx(share)


def test_does_an_extension_move_the_due_date_for_that_student_only(tmp_path):
    (tmp_path / "ext.csv").write_text("student_id,days\ncat,2\nben,0.5\n")
    policy = LatePolicy(config=Config({"LatePolicy": {"extensions": str(tmp_path / "ext.csv")}}))
    assert policy.late_submission_penalty("cat", 10.0, 47 * HOUR) == 0.0
    assert policy.late_submission_penalty("cat", 10.0, 49 * HOUR) == 1.0
    assert policy.late_submission_penalty("ben", 10.0, 13 * HOUR) == 1.0
    assert policy.late_submission_penalty("dan", 10.0, 25 * HOUR) == 2.0


def test_does_a_broken_extensions_file_say_what_is_wrong(tmp_path):
    (tmp_path / "ext.csv").write_text("student,extra\ncat,2\n")
    with pytest.raises(ValueError, match="needs the columns student_id, days"):
        read_extensions(str(tmp_path / "ext.csv"))
    (tmp_path / "ext.csv").write_text("student_id,days\ncat,two\n")
    with pytest.raises(ValueError, match="line 2: days must be a number"):
        read_extensions(str(tmp_path / "ext.csv"))


def test_does_each_lms_name_give_its_student_id_marker_and_time():
    canvas = parse_lms_name("smithjohn_late_12345_6789012_hw2_cnn-1.ipynb")
    assert (canvas.lms, canvas.student, canvas.notebook, canvas.lms_user_id, canvas.marked_late) == \
        ("canvas", "smithjohn", "hw2_cnn.ipynb", "12345", True)
    assert parse_lms_name("smithjohn_12345_6789012_hw2_cnn.ipynb").marked_late is False
    moodle = parse_lms_name("Ada Lovelace_34567_assignsubmission_file_hw2_cnn.ipynb")
    assert (moodle.student, moodle.lms_user_id, moodle.marked_late) == ("ada_lovelace", "34567", None)
    board = parse_lms_name("hw2_aturing_attempt_2026-11-01-10-00-00_hw2_cnn.ipynb", "Europe/Berlin")
    assert (board.student, board.time, board.time_source) == ("aturing", "2026-11-01T09:00:00+00:00", "name")


def penalties(graded_class) -> dict[str, tuple[float, float]]:
    """Student -> (hw2_cnn score, its late penalty) from the gradebook."""
    with Gradebook(graded_class.db_url) as gradebook:
        notebooks = {s: gradebook.find_submission_notebook("hw2_cnn", "hw2", s) for s in graded_class.user_ids}
        return {s: (nb.score, nb.late_submission_penalty or 0.0) for s, nb in notebooks.items()}


def test_is_a_late_canvas_file_penalised_and_an_on_time_one_not(graded_class):
    found = penalties(graded_class)
    ben_score, ben_penalty = found["ben"]
    assert ben_score > 0 and ben_penalty == pytest.approx(round(0.2 * ben_score, 2))  # 1.5 days: 2 started days
    ann_score, ann_penalty = found["ann"]
    assert ann_score == ben_score + 1.5 and ann_penalty == 0  # on time by Canvas (her zip time is the download's)
    assert found["cat"][0] > 0 and found["cat"][1] == 0  # 2 days late, 3 days' extension
    assert found["dan"][1] == 0


def test_does_collect_keep_the_lms_marker_time_and_id(graded_class):
    ben = read_lms_submission(str(graded_class.root), "ben")
    assert ben.marked_late and ben.time_source == "zip entry" and ben.lms_user_id == graded_class.user_ids["ben"]
    assert datetime.datetime.fromisoformat(ben.time).replace(tzinfo=None) == graded_class.handed["ben"].at
    assert (graded_class.root / "submitted" / "ben" / "hw2" / "timestamp.txt").exists()
    ann = read_lms_submission(str(graded_class.root), "ann")
    assert ann.marked_late is False and ann.files[0].time and ann.time is None
    assert not (graded_class.root / "submitted" / "ann" / "hw2" / "timestamp.txt").exists()
    assert not (graded_class.root / "autograded" / "ann" / "hw2" / "lms.json").exists()
    with Gradebook(graded_class.db_url) as gradebook:
        assert {s.id: s.lms_user_id for s in gradebook.students} == graded_class.user_ids
        assert gradebook.find_assignment("hw2").duedate == datetime.datetime(2026, 11, 15, 23, 59)


def test_does_grades_csv_show_the_penalty_apart(graded_class):
    rows = {r["student_id"]: r for r in csv.DictReader(open(graded_class.root / "grades.csv"))}
    score, penalty = penalties(graded_class)["ben"]
    assert float(rows["ben"]["late_penalty"]) == pytest.approx(penalty)
    assert float(rows["ben"]["final"]) == pytest.approx(float(rows["ben"]["total"]) - penalty)
    assert rows["ann"]["late_penalty"] == "0" and rows["ann"]["final"] == rows["ann"]["total"]
