"""Is a failure of our own grader told apart from a student's failure and sent to the instructor?"""

import nbformat
from nbgrader.api import Gradebook

from course.tools.autograde import autograde
from course.tools.cli import course_config
from course.tools.nbgrader_cmd import nbgrader
from course.tools.samples import Sample
from support import autograded_notebook, cell_text


def test_does_a_grader_error_go_to_manual_grading_with_a_plain_message(scratch_course):
    source = scratch_course / "source" / "hw2" / "hw2_cnn.ipynb"
    nb = nbformat.read(source, as_version=4)
    broken = nbformat.v4.new_code_cell('### BEGIN HIDDEN TESTS\nfrom course.grade import check\n'
                                       'check("hw2_cnn.no_such_part", globals())\n### END HIDDEN TESTS')
    broken.metadata["nbgrader"] = {"grade": True, "grade_id": "test_typo", "locked": True, "points": 1,
                                   "schema_version": 3, "solution": False, "task": False}
    nb.cells.append(broken)
    nbformat.write(nb, source)
    nbgrader(["generate_assignment", "hw2", "--force"], str(scratch_course), log_path=str(scratch_course / "gen.log"))
    Sample("zoe", {"hw2_cnn": {"conv_output_size"}}, only={"hw2_cnn"}).submit(str(scratch_course))
    url = course_config(str(scratch_course)).CourseDirectory.db_url
    [outcome] = autograde(str(scratch_course), ["zoe"], url, workers=1, force=True, progress=False)
    assert outcome.ok and outcome.grader_errors == 1 and "manual review" in outcome.status
    with Gradebook(url) as gradebook:
        typo = gradebook.find_grade("test_typo", "hw2_cnn", "hw2", "zoe")
        solved = gradebook.find_grade("test_conv_output_size", "hw2_cnn", "hw2", "zoe")
        assert typo.auto_score is None and typo.needs_manual_grade
        assert solved.auto_score == solved.max_score > 0 and not solved.needs_manual_grade
    assert "Grader error in part hw2_cnn.no_such_part" in open(outcome.log).read()
    assert "not your fault" in cell_text(autograded_notebook(scratch_course, "zoe", "hw2_cnn"), "test_typo")
