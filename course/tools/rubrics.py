"""The reference run the TAs' rubrics compare with (``course rubrics``).

The instructor's solutions, filled into the release, run as a student runs them in Colab (trained on the
grading machine's data); the executed notebook goes to ``reports/reference/<notebook>.ipynb``, where the
autograde step :class:`course.pipeline.rubrics.AddRubrics` takes the reference plots from.
"""

import os

import nbformat

from course.assignment import REFERENCE_FOLDER
from course.tools.notebooks import fill, notebook_paths, read
from course.tools.samples import trained


def write_reference_run(root: str, name: str) -> str:
    """Run notebook ``name`` with the solutions (cached like the trained samples) and keep it; returns the file."""
    nb = fill(read(notebook_paths(root, "release", name)), read(notebook_paths(root, "source", name)))
    path = os.path.join(root, REFERENCE_FOLDER, f"{name}.ipynb")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    nbformat.write(trained(nb, name, root), path)
    return path
