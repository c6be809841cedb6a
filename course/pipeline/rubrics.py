"""Rubrics for the cells a TA grades: shown in the formgrader, never in the release or the feedback.

The source notebook keeps each manually graded cell's rubric inside the cell's solution region (so the
release never has it), between ``### BEGIN RUBRIC`` and ``### END RUBRIC``: what earns full and partial
credit and the key facts. A line ``Compare with: <grade id>, ...`` names the cells whose outputs in the
reference run the TA compares the student's with; ``course rubrics`` makes that run (the instructor's
solutions run as a student runs them, kept in ``reports/reference/``).

:class:`AddRubrics` (an autograde step) puts below every manually graded cell of the graded notebook a
cell with its rubric, the model answer and those reference outputs, marked as the graders' own;
:class:`RemoveRubrics` (a feedback step) takes them out again.
"""

import os

import nbformat
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

from course.assignment import REFERENCE_FOLDER
from course.pipeline.markers import BEGIN_RUBRIC, BEGIN_SOLUTION, END_RUBRIC, END_SOLUTION, grade_id, region, without_rubric
from course.pipeline.submitted import COURSE_METADATA

COMPARE_WITH = "Compare with:"
HEADING = "Rubric for graders (not shown to students)"


def rubric_of(source: str) -> str:
    """The rubric region of a source cell ('' when it has none); in a code cell its lines are comments."""
    lines = region(source, BEGIN_RUBRIC, END_RUBRIC).strip().splitlines()
    if lines and all(line.startswith("#") for line in lines):
        lines = [line[2:] if line.startswith("# ") else line[1:] for line in lines]
    return "\n".join(lines).strip()


def model_answer(source: str) -> str:
    """The solution region of a source cell without its rubric."""
    return "\n".join(without_rubric(region(source, BEGIN_SOLUTION, END_SOLUTION).splitlines())).strip()


def compared_cells(rubric: str) -> list[str]:
    """The grade ids a rubric's ``Compare with:`` line names."""
    for line in rubric.splitlines():
        if line.strip().startswith(COMPARE_WITH):
            return [name.strip(" .`") for name in line.split(":", 1)[1].split(",") if name.strip(" .`")]
    return []


def _images(outputs) -> list[str]:
    """The PNG images of outputs, as markdown with the picture inline."""
    return [f"![reference](data:image/png;base64,{output['data']['image/png'].strip()})"
            for output in outputs if "image/png" in output.get("data", {})]


def is_rubric(cell) -> bool:
    return bool(cell.metadata.get(COURSE_METADATA, {}).get("rubric"))


def rubric_cell(rubric: str, answer: str, reference: dict[str, list], points: float):
    """The graders' cell for one manually graded cell."""
    parts = [f"**{HEADING}, {points:g} point(s)**", "", rubric]
    if answer:
        parts += ["", "**Model answer**", "", answer]
    for name, outputs in reference.items():
        pictures = _images(outputs)
        if pictures:
            parts += ["", f"**The reference run's {name}**", "", *pictures]
    cell = nbformat.v4.new_markdown_cell("\n".join(parts))
    cell.metadata[COURSE_METADATA] = {"rubric": True}
    return cell


class AddRubrics(NbGraderPreprocessor):
    """Put the rubric (with the model answer and the reference outputs) below every manually graded cell."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        root = self.config.CourseDirectory.get("root") or os.getcwd()
        source_path = os.path.join(root, "source", info["assignment"], info["notebook"] + ".ipynb")
        if not os.path.exists(source_path):
            self.log.warning("No source notebook %s: the graded notebook gets no rubrics", source_path)
            return nb, resources
        sources = {grade_id(c): c.source for c in nbformat.read(source_path, as_version=4).cells if grade_id(c)}
        reference = self._reference(os.path.join(root, REFERENCE_FOLDER, info["notebook"] + ".ipynb"))
        cells = []
        for cell in nb.cells:
            if is_rubric(cell):
                continue  # a student's copy of a rubric cell, or an earlier run's
            cells.append(cell)
            name = grade_id(cell)
            if utils.is_grade(cell) and utils.is_solution(cell) and name in sources and rubric_of(sources[name]):
                rubric = rubric_of(sources[name])
                compared = {n: reference.get(n, []) for n in compared_cells(rubric)}
                answer = model_answer(sources[name])
                if cell.cell_type == "code" and answer:
                    answer = f"```python\n{answer}\n```"
                cells.append(rubric_cell(rubric, answer, compared, float(cell.metadata.nbgrader.get("points", 0))))
        nb.cells = cells
        return nb, resources

    def _reference(self, path: str) -> dict[str, list]:
        if not os.path.exists(path):
            self.log.warning("No reference run in %s (course rubrics makes it): rubrics without reference plots", path)
            return {}
        return {grade_id(c): c.get("outputs", []) for c in nbformat.read(path, as_version=4).cells if grade_id(c)}


class RemoveRubrics(NbGraderPreprocessor):
    """Feedback: the graders' rubric cells are not for students."""

    def preprocess(self, nb, resources):
        nb.cells = [cell for cell in nb.cells if not is_rubric(cell)]
        return nb, resources

