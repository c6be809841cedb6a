"""Does a test cell say which parts it grades, whatever else it holds?"""

import nbformat

from course.pipeline.markers import grade_id, hidden_region, is_test_cell, part_ids

TEST_CELL = '''# Hidden tests: conv2d_forward (4 points).
assert True  # a visible line
### BEGIN HIDDEN TESTS
from course.grade import check
check("hw2_cnn.conv2d_forward", globals())
check('hw2_cnn.conv2d_backward', globals())
### END HIDDEN TESTS
'''


def test_is_only_the_hidden_region_read():
    assert hidden_region(TEST_CELL).splitlines() == [
        "from course.grade import check", 'check("hw2_cnn.conv2d_forward", globals())',
        "check('hw2_cnn.conv2d_backward', globals())"]
    assert hidden_region("check('visible.part', globals())") == ""


def test_are_the_parts_named_in_order():
    assert part_ids(TEST_CELL) == ["hw2_cnn.conv2d_forward", "hw2_cnn.conv2d_backward"]


def test_does_a_broken_or_foreign_hidden_region_name_no_part():
    broken = "### BEGIN HIDDEN TESTS\ncheck(\n### END HIDDEN TESTS"
    computed = "### BEGIN HIDDEN TESTS\ncheck(name, globals())\nprint('check')\n### END HIDDEN TESTS"
    assert part_ids(broken) == [] and part_ids(computed) == []


def test_is_a_test_cell_graded_code_that_is_not_an_answer():
    def cell(kind, **nbgrader):
        made = nbformat.v4.new_code_cell("x") if kind == "code" else nbformat.v4.new_markdown_cell("x")
        made.metadata["nbgrader"] = {"grade_id": "g", **nbgrader}
        return made

    assert is_test_cell(cell("code", grade=True, solution=False))
    assert not is_test_cell(cell("code", grade=True, solution=True))  # a manually graded answer
    assert not is_test_cell(cell("markdown", grade=True, solution=False))
    assert not is_test_cell(cell("code", grade=False, solution=True))
    assert grade_id(cell("code")) == "g" and grade_id(nbformat.v4.new_code_cell("x")) is None
