"""What a graded cell says about itself: the hidden-test region of a test cell and the part ids its
``check(...)`` calls name; the solution and rubric regions of a source cell.

A test cell of the source notebook reads::

    ### BEGIN HIDDEN TESTS
    from course.grade import check
    check("hw2_cnn.conv2d_forward", globals())
    ### END HIDDEN TESTS

Under protected grading the cell is restored from the gradebook before it is read, so the part ids
are the instructor's, whatever the student's file said.
"""

import ast

from nbgrader import utils

BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
# A rubric for the TA sits inside a manually graded cell's solution region (course.pipeline.rubrics).
BEGIN_RUBRIC, END_RUBRIC = "### BEGIN RUBRIC", "### END RUBRIC"
# A cell whose release version starts with this line is run in Colab only: grading mode skips it (its
# submitted outputs are shown to the TA instead). Only the gradebook's copy of the cell counts.
COLAB_ONLY = "# Colab only"
CHECK_FUNCTION = "check"  # the name hidden tests call (course.grade.check)


def region(source: str, begin: str, end: str) -> str:
    """The lines of ``source`` between the lines holding the markers ``begin`` and ``end`` ('' when none)."""
    inside, lines = False, []
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            lines.append(line)
    return "\n".join(lines)


def without_rubric(lines: list[str]) -> list[str]:
    """``lines`` without a rubric region (its marker lines included)."""
    kept, inside = [], False
    for line in lines:
        if BEGIN_RUBRIC in line:
            inside = True
        elif END_RUBRIC in line:
            inside = False
        elif not inside:
            kept.append(line)
    return kept


def hidden_region(source: str) -> str:
    """The text between the hidden-test markers of a cell ('' when there are none)."""
    return region(source, BEGIN_HIDDEN, END_HIDDEN)


def part_ids(source: str) -> list[str]:
    """Part ids named by ``check("<id>", ...)`` calls in the hidden region of a test cell, in order."""
    try:
        tree = ast.parse(hidden_region(source))
    except SyntaxError:
        return []
    ids = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == CHECK_FUNCTION):
            ids.append(node.args[0].value)
    return ids


def is_test_cell(cell) -> bool:
    """An autograder test cell: graded, not a student answer, code."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def grade_id(cell) -> str | None:
    """The nbgrader grade id of a cell, None for an ordinary cell."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_colab_only(source: str) -> bool:
    """Whether a release cell's source marks it as run in Colab only (its first line)."""
    return source.lstrip().startswith(COLAB_ONLY)
