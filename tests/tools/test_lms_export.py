"""Do the Canvas and Moodle files have the layouts those LMSs import, matched by the LMS's own ids?"""

import csv

import pytest

from course.tools.cli import main
from course.tools.lms_export import (CANVAS_STUDENT_COLUMNS, LmsGrade, RosterError, UnmatchedStudents,
                                     canvas_export, moodle_export)

CANVAS_ROSTER = [  # as Canvas's Grades > Export writes it
    [*CANVAS_STUDENT_COLUMNS, "hw1 (1200)", "hw2 (1234)", "Current Score"],
    ["    Points Possible", "", "", "", "", "50", "100", "(read only)"],
    ["Smith, Ann", "1001", "S1001", "asmith", "DL 2026", "40", "", "80"],
    ["Jones, Ben", "1002", "S1002", "bjones", "DL 2026", "45", "", "90"],
    ["Lee, Eve", "1005", "S1005", "elee", "DL 2026", "30", "", "60"],
]
MOODLE_WORKSHEET = [
    ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
     "Last modified (submission)", "Last modified (grade)", "Feedback comments"],
    ["Participant 34567", "Ann Smith", "ann@example.org", "Submitted for grading", "", "100.00", "Yes",
     "Sunday, 15 November 2026, 10:00 PM", "-", ""],
    ["Participant 34568", "Eve Lee", "eve@example.org", "No submission", "", "100.00", "Yes", "-", "-", ""],
]


def write(path, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return str(path)


def read(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_does_the_canvas_file_round_trip_a_roster_with_a_missing_student(tmp_path):
    roster = write(tmp_path / "roster.csv", CANVAS_ROSTER)
    grades = [LmsGrade("ann", "1001", 87.456), LmsGrade("ben", "1002", 60.0)]
    result = canvas_export(roster, grades, 100, str(tmp_path / "canvas.csv"))
    rows = read(result.path)
    assert rows[0] == [*CANVAS_STUDENT_COLUMNS, "hw2 (1234)"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "100"]
    assert rows[2:] == [[*CANVAS_ROSTER[2][:5], "87.46"], [*CANVAS_ROSTER[3][:5], "60"], [*CANVAS_ROSTER[4][:5], "0"]]
    assert [r.name for r in result.missing] == ["Lee, Eve"] and result.students == 3
    again = canvas_export(result.path, grades, 100, str(tmp_path / "again.csv"))  # the file is a roster again
    assert read(again.path) == rows


def test_does_the_canvas_export_reject_an_id_that_matches_nobody(tmp_path):
    roster = write(tmp_path / "roster.csv", CANVAS_ROSTER)
    with pytest.raises(UnmatchedStudents, match=r"cat \(LMS id 1003\), dan \(no LMS id\)\. Nothing was written"):
        canvas_export(roster, [LmsGrade("ann", "1001", 1), LmsGrade("cat", "1003", 2), LmsGrade("dan", None, 3)],
                      100, str(tmp_path / "canvas.csv"))
    assert not (tmp_path / "canvas.csv").exists()


def test_does_a_roster_that_is_not_canvas_say_where_to_get_one(tmp_path):
    with pytest.raises(RosterError, match="Grades > Export"):
        canvas_export(write(tmp_path / "r.csv", [["name", "id"], ["Ann", "1"]]), [], 100, str(tmp_path / "out.csv"))


def test_does_the_moodle_worksheet_get_its_grade_column_filled(tmp_path):
    worksheet = write(tmp_path / "worksheet.csv", MOODLE_WORKSHEET)
    result = moodle_export(worksheet, [LmsGrade("ada", "34567", 91.5)], 100, str(tmp_path / "moodle.csv"))
    rows = read(result.path)
    assert rows[0] == MOODLE_WORKSHEET[0]
    assert rows[1] == [*MOODLE_WORKSHEET[1][:4], "91.50", *MOODLE_WORKSHEET[1][5:]]
    assert rows[2][4] == "0.00" and [r.lms_id for r in result.missing] == ["34568"]
    assert moodle_export(worksheet, [LmsGrade("ada", "34567", 91.5)], 45, str(tmp_path / "m.csv")).notes
    with pytest.raises(UnmatchedStudents, match="moodle roster: bo"):
        moodle_export(worksheet, [LmsGrade("bo", "99", 1)], 100, str(tmp_path / "m.csv"))


def canvas_roster_of(graded_class, path, leave_out=()):
    rows = [list(CANVAS_STUDENT_COLUMNS), ["    Points Possible", "", "", "", ""]]
    rows += [[f"{s.title()}, Student", uid, f"S{uid}", s, "DL"] for s, uid in graded_class.user_ids.items()
             if s not in leave_out]
    rows.append(["Lee, Eve", "1999", "S1999", "elee", "DL"])  # enrolled, never submitted
    return write(path, rows)


def test_does_course_export_write_the_canvas_file_from_the_graded_class(graded_class, tmp_path, capsys):
    roster = canvas_roster_of(graded_class, tmp_path / "roster.csv")
    out = tmp_path / "canvas.csv"
    assert main(["--root", str(graded_class.root), "export", "--lms", "canvas", "--roster", roster, "--out", str(out)]) == 0
    finals = {r["student_id"]: r["final"] for r in csv.DictReader(open(graded_class.root / "grades.csv"))}
    rows = read(out)
    assert rows[1][5] == "100"
    assert {row[3]: row[5] for row in rows[2:]} == {**finals, "elee": "0"}
    assert "no submission, 0 points: Lee, Eve (LMS id 1999)" in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"ben \(LMS id \d+\)"):
        main(["--root", str(graded_class.root), "export", "--lms", "canvas",
              "--roster", canvas_roster_of(graded_class, tmp_path / "short.csv", leave_out={"ben"})])
