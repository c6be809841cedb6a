"""Every cell a TA grades carries a rubric in the source notebook, whose reference cells exist, and the
rubric never reaches the release a student downloads."""

import pytest

from course.assignment import ASSIGNMENT, NOTEBOOKS
from course.pipeline.markers import BEGIN_RUBRIC
from course.pipeline.rubrics import compared_cells, model_answer, rubric_of
from course.tools.notebooks import grade_id, read
from support import REPO


def hand_graded(nb) -> list:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
            and c.metadata["nbgrader"].get("solution")]


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_does_every_hand_graded_cell_have_a_rubric_and_a_model_answer(notebook):
    nb = read(str(REPO / "source" / ASSIGNMENT / f"{notebook}.ipynb"))
    ids = {grade_id(c) for c in nb.cells}
    cells = hand_graded(nb)
    assert cells
    for cell in cells:
        rubric = rubric_of(cell.source)
        assert rubric, f"{grade_id(cell)} has no rubric"
        assert model_answer(cell.source) or compared_cells(rubric), f"{grade_id(cell)}: no model answer or reference"
        assert set(compared_cells(rubric)) <= ids, f"{grade_id(cell)} compares with cells that do not exist"


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_does_the_release_leave_every_rubric_out(notebook):
    text = (REPO / "release" / ASSIGNMENT / f"{notebook}.ipynb").read_text()
    assert BEGIN_RUBRIC not in text and "Compare with:" not in text
