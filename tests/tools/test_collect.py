"""Does an LMS bulk download land in nbgrader's submitted/ layout, whatever the LMS?"""

import zipfile

from course.tools.collect import collect


def test_are_canvas_moodle_and_blackboard_files_collected_by_student(scratch_course):
    notebook = (scratch_course / "release" / "hw2" / "hw2_cnn.ipynb").read_text()
    archive = scratch_course / "lms.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("smithjohn_12345_6789012_hw2_cnn.ipynb", notebook)                     # Canvas
        z.writestr("doejane_late_23456_7890123_hw2_cnn-1.ipynb", notebook)                # Canvas, late resubmission
        z.writestr("Ada Lovelace_34567_assignsubmission_file_hw2_cnn.ipynb", notebook)    # Moodle
        z.writestr("hw2_aturing_attempt_2026-11-01-10-00-00_hw2_cnn.ipynb", notebook)     # Blackboard
        z.writestr("ghopper/hw2_cnn.ipynb", notebook)                                      # a folder per student
        z.writestr("smithjohn_12345_6789012_notes.pdf", b"%PDF")                          # not a notebook
    collected = collect(str(scratch_course), str(archive))
    assert collected == [f"{student}/hw2/hw2_cnn.ipynb" for student in
                         ("ada_lovelace", "aturing", "doejane", "ghopper", "smithjohn")]
    assert (scratch_course / "submitted" / "smithjohn" / "hw2" / "hw2_cnn.ipynb").read_text() == notebook
