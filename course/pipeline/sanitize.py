"""Making a submission gradable whatever happened to it on its way back from the student.

* :class:`SubmissionExporter` reads the file: one that is not a notebook is graded as the empty
  release notebook, with a message saying why, instead of failing the student's whole assignment.
* :class:`RestoreCellMetadata` puts back the nbgrader metadata of every graded cell from the
  gradebook (whether it is graded, a solution, locked, its points, its type), forgets grade ids the
  gradebook does not know, keeps only the last of duplicated cells, and moves a test cell that was
  moved above its part back below it.
  nbgrader's ``OverwriteCells`` then restores the sources of locked and test cells and re-adds
  deleted ones.
"""

import json
import os

import nbformat
from nbconvert.exporters import NotebookExporter
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor

from course.pipeline.markers import is_colab_only
from course.pipeline.submitted import COURSE_METADATA

UNREADABLE_MARKER = "<!-- course: unreadable submission -->"


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _repair(data: dict) -> dict:
    """Fill in what a hand-edited or foreign notebook may lack (code cells' outputs and counts, metadata)."""
    data.setdefault("metadata", {})
    data.setdefault("nbformat", 4)
    data.setdefault("nbformat_minor", 0)
    for cell in data.get("cells", []):
        cell.setdefault("metadata", {})
        if cell.get("cell_type") == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    return data


def read_submission(path: str):
    """The notebook in ``path``, repaired where harmless.

    Raises:
        ValueError: with a message a student can act on, when the file is not a notebook.
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except UnicodeDecodeError:
        raise ValueError("the file is not text (was a different file uploaded?)") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"the file is not valid notebook JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError("the file is JSON but not a notebook (it has no list of cells)")
    try:
        # read as nbformat.read reads (sources and outputs' text joined from lines), once repaired
        nb = nbformat.reads(json.dumps(_repair(data)), as_version=4)
        nbformat.validate(nb)
        return nb
    except Exception as error:  # nbformat raises several kinds; any of them means "not a valid notebook"
        raise ValueError(f"the file is not a valid notebook ({str(error).splitlines()[0][:200]})") from None


class SubmissionExporter(NotebookExporter):
    """nbgrader's notebook exporter, tolerant of files that are not notebooks.

    The release version of the notebook stands in for an unreadable file, headed by a cell that says
    what was wrong; every part of it scores zero and the student's other notebooks are graded as usual.
    """

    def from_filename(self, filename, resources=None, **kw):
        try:
            nb = read_submission(filename)
        except ValueError as problem:
            nb = self._stand_in(filename, str(problem))
        resources = resources or {}
        resources.setdefault("metadata", {})["path"] = os.path.dirname(filename)
        return self.from_notebook_node(nb, resources, **kw)

    def _stand_in(self, filename: str, problem: str):
        coursedir = self.parent.coursedir
        assignment = os.path.basename(os.path.dirname(filename))
        release = os.path.join(coursedir.format_path(coursedir.release_directory, ".", assignment),
                               os.path.basename(filename))
        self.log.error("%s could not be read (%s): grading the empty release notebook instead", filename, problem)
        nb = nbformat.read(release, as_version=4)
        message = (f"{UNREADABLE_MARKER}\n**This submission could not be graded:** {problem}. Every part of this "
                   "notebook scores zero. Download the notebook again from Colab with *File → Download → "
                   "Download .ipynb* and resubmit that file.")
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(message))
        return nb


class RestoreCellMetadata(NbGraderPreprocessor):
    """Graded cells get their nbgrader metadata back from the gradebook (see the module docstring)."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            notebook = gradebook.find_notebook(info["notebook"], info["assignment"])
            self.truth = {}
            for cell in notebook.source_cells:
                self.truth[cell.name] = {"grade": False, "solution": False, "locked": cell.locked,
                                         "task": False, "cell_type": cell.cell_type}
            for cell in notebook.grade_cells:
                self.truth[cell.name].update(grade=True, points=cell.max_score)
            for cell in notebook.solution_cells:
                self.truth[cell.name]["solution"] = True
            for cell in notebook.task_cells:
                self.truth[cell.name].update(task=True, points=cell.max_score)
            self.order = [cell.name for cell in notebook.source_cells]
            self.sources = {cell.name: (cell.source, cell.checksum) for cell in notebook.source_cells}
        self.colab_only = {name for name, (source, _) in self.sources.items() if is_colab_only(source)}
        nb, resources = super().preprocess(nb, resources)
        self._keep_last_of_duplicates(nb.cells)
        nb.cells = self._test_cells_below_their_parts(nb.cells)
        nb.cells = self._restore_missing(nb.cells, with_ids=nb.nbformat_minor >= 5)
        return nb, resources

    def _restore_missing(self, cells, with_ids: bool):
        """Every graded or locked cell of the release that the submission lacks comes back, from the
        gradebook, just below the nearest cell of the release before it that is there (the top if none):
        a deleted test cell is graded, a deleted given cell runs, a deleted answer is the release's stub."""
        cells = list(cells)
        for position, name in enumerate(self.order):
            present = [_grade_id(c) for c in cells]
            if name in present:
                continue
            self.log.warning("Cell %s is missing from the submission: restored from the release", name)
            anchors = [present.index(before) for before in reversed(self.order[:position]) if before in present]
            cells.insert(anchors[0] + 1 if anchors else 0, self._cell_of_release(name, with_ids))
        return cells

    def _cell_of_release(self, name, with_id: bool):
        """A cell rebuilt from the gradebook's copy of the release cell ``name``."""
        truth, (source, checksum) = self.truth[name], self.sources[name]
        cell = (nbformat.v4.new_code_cell(source) if truth["cell_type"] == "code"
                else nbformat.v4.new_markdown_cell(source))
        cell.metadata["nbgrader"] = {"grade_id": name, "schema_version": 3, "checksum": checksum,
                                     **{k: v for k, v in truth.items() if k != "cell_type"}}
        if truth["locked"]:
            cell.metadata["deletable"], cell.metadata["editable"] = False, False
        if name in self.colab_only:
            cell.metadata[COURSE_METADATA] = {"colab_only": True}
        if with_id:
            cell.id = f"restored-{name}"[:64]
        else:
            cell.pop("id", None)
        return cell

    def _keep_last_of_duplicates(self, cells):
        """Of several cells with one grade id, the last keeps it; the others become ordinary cells
        (nbgrader's DeduplicateIds leaves them an empty nbgrader entry that breaks later steps)."""
        seen = set()
        for cell in reversed(cells):
            name = cell.metadata.get("nbgrader", {}).get("grade_id")
            if name in seen:
                self.log.warning("Cell %s appears more than once: grading the last one", name)
                cell.metadata.pop("nbgrader")
            elif name is not None:
                seen.add(name)

    def preprocess_cell(self, cell, resources, index):
        cell.metadata.pop(COURSE_METADATA, None)  # only the gradebook says how a cell is graded
        metadata = cell.metadata.get("nbgrader")
        if not isinstance(metadata, dict):
            cell.metadata.pop("nbgrader", None)
            return cell, resources
        grade_id = metadata.get("grade_id")
        if grade_id not in self.truth:
            if grade_id is not None:
                self.log.warning("Cell with unknown grade id %r: treated as an ordinary cell", grade_id)
            cell.metadata.pop("nbgrader")
            return cell, resources
        truth = self.truth[grade_id]
        restored = {"grade_id": grade_id, "schema_version": 3, **{k: v for k, v in truth.items() if k != "cell_type"}}
        if metadata != {**metadata, **restored} or set(metadata) - set(restored) - {"checksum"}:
            self.log.warning("Restored the nbgrader metadata of cell %s", grade_id)
        cell.metadata["nbgrader"] = {**restored, **({"checksum": metadata["checksum"]} if "checksum" in metadata else {})}
        if truth["locked"]:
            cell.metadata["deletable"], cell.metadata["editable"] = False, False
        if grade_id in self.colab_only:
            cell.metadata[COURSE_METADATA] = {"colab_only": True}
        return cell, resources

    def _test_cells_below_their_parts(self, cells):
        """A test cell found above the graded cell that precedes it in the source moves just below it."""
        grade_id = _grade_id
        cells = list(cells)
        for name in self.order:
            truth = self.truth[name]
            if not (truth["grade"] and not truth["solution"] and truth["cell_type"] == "code"):
                continue
            before = self.order[:self.order.index(name)]
            ids = [grade_id(c) for c in cells]
            if name not in ids or not before:
                continue
            anchors = [ids.index(b) for b in before if b in ids]
            position = ids.index(name)
            if anchors and position < max(anchors):
                test = cells.pop(position)
                cells.insert(max(anchors), test)  # max(anchors) shifted left by one after the pop
                self.log.warning("Moved test cell %s back below the cells of its part", name)
        return cells
