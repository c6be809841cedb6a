"""Reading notebooks and moving solutions between the source and the release."""

import os

import nbformat

from course.assignment import ASSIGNMENT
from course.pipeline.markers import BEGIN_SOLUTION, END_SOLUTION, without_rubric
EXTRA_CREDIT_PREFIX = "ec_"  # graded cells whose grade id starts so are extra credit: beyond the maximum


def is_extra_credit(name: str) -> bool:
    return name.startswith(EXTRA_CREDIT_PREFIX)


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_solution(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def read(path: str):
    return nbformat.read(path, as_version=4)


def write(nb, path: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    nbformat.write(nb, path)
    return path


def without_markers(source: str) -> str:
    """A solution cell's source as a student would have written it: the markers and the TA's rubric removed."""
    return "\n".join(line for line in without_rubric(source.splitlines())
                     if BEGIN_SOLUTION not in line and END_SOLUTION not in line)


def solutions(source_nb) -> dict[str, str]:
    """The instructor's solution of every solution cell, by grade id, markers removed."""
    return {grade_id(c): without_markers(c.source) for c in source_nb.cells if is_solution(c)}


def fill(release_nb, source_nb, only=None):
    """A copy of ``release_nb`` whose solution cells hold the instructor's solutions.

    Args:
        only: grade ids to fill (default: all); the other solution cells keep the release's stub.
    """
    answers = solutions(source_nb)
    nb = nbformat.from_dict(release_nb)
    for cell in nb.cells:
        if is_solution(cell) and (only is None or grade_id(cell) in only):
            cell.source = answers[grade_id(cell)]
    return nb


def notebook_paths(root: str, folder: str, name: str) -> str:
    return os.path.join(root, folder, ASSIGNMENT, f"{name}.ipynb")


class Shell:
    """What the notebooks' cells ask of IPython when they run outside a kernel (``get_ipython()``)."""

    execution_count = 0


def run_in_process(nb, namespace: dict | None = None, skip=lambda cell: False) -> dict:
    """Execute the code cells of ``nb`` (solution markers removed) in one namespace, top to bottom, except
    test cells, cells that run in Colab only and those ``skip`` names; returns the namespace.

    For the tests and benchmarks that call a notebook's functions directly (the graders' LocalSubject)."""
    from course.pipeline.markers import is_colab_only, is_test_cell

    namespace = {"get_ipython": Shell, **(namespace or {})}
    for cell in nb.cells:
        name = grade_id(cell) or ""
        if cell.cell_type != "code" or is_test_cell(cell) or is_colab_only(cell.source) or skip(cell):
            continue
        exec(compile(without_markers(cell.source), f"<cell {name}>", "exec"), namespace)
    return namespace
