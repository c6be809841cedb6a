"""What a student's file carries besides code, kept before nbgrader clears its outputs.

nbgrader's autograde starts by clearing every output (``ClearOutput``). Two kinds of outputs matter
to grading, so :class:`KeepSubmitted` runs first and keeps them in the notebook's metadata, where the
autograde phase (:class:`course.pipeline.execute.GuardedExecute`) finds them:

* the trained weights the notebook's ``submit_weights`` cell stored (an output of MIME type
  ``WEIGHTS_MIME``; the last one counts), which the graders evaluate;
* the outputs of the graded cells as the student ran them in Colab (by grade id), which the TA sees,
  labelled as the student's and not verified, beside the grading-mode run or instead of a run that
  grading skips.

Both are bounded in size; whatever the file held under the same metadata key is replaced.
"""

import json

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

from course.grade.weights import WEIGHTS_LIMIT_BYTES, WEIGHTS_MIME
from course.pipeline.markers import grade_id

COURSE_METADATA = "course"  # nb.metadata[COURSE_METADATA]: what KeepSubmitted kept


def outputs_size(outputs) -> int:
    """The size of outputs as JSON text, in bytes."""
    return len(json.dumps(outputs, ensure_ascii=False).encode())


class KeepSubmitted(NbGraderPreprocessor):
    """Keep the submitted weights and the graded cells' outputs in ``nb.metadata["course"]``."""

    max_cell_output_bytes = Integer(1_000_000, help="The most of one cell's submitted outputs kept for the TA.").tag(config=True)
    max_output_bytes = Integer(4_000_000, help="The most of a notebook's submitted outputs kept for the TA.").tag(config=True)

    def preprocess(self, nb, resources):
        weights, problem, outputs, total = None, "", {}, 0
        for cell in nb.cells:
            if cell.get("cell_type") != "code":
                continue
            kept = []
            for output in cell.get("outputs", []):
                data = output.get("data", {}) if isinstance(output, dict) else {}
                if WEIGHTS_MIME in data:
                    weights, problem = self._weights(data[WEIGHTS_MIME])
                    output = {**output, "data": {"text/plain": data.get("text/plain", "(submitted weights)")}}
                kept.append(output)
            name = grade_id(cell)
            size = outputs_size(kept)
            if name and kept and size <= self.max_cell_output_bytes and total + size <= self.max_output_bytes:
                outputs[name] = kept
                total += size
        nb.metadata[COURSE_METADATA] = {"weights": weights, "weights_problem": problem, "outputs": outputs}
        return nb, resources

    def _weights(self, payload):
        """The payload as kept (None with a reason when it is too large to read)."""
        size = len(json.dumps(payload).encode())
        if size > WEIGHTS_LIMIT_BYTES * 4 // 3 + 1_000_000:  # base64 takes 4/3 of the raw bytes, plus the names
            return None, (f"the weights output takes {size / 1e6:.1f} MB, more than the limit of "
                          f"{WEIGHTS_LIMIT_BYTES / 1e6:g} MB of weights: make the model smaller")
        return payload, ""


SUBMITTED_HEADING = "As submitted from Colab (the student's own outputs, not verified by the autograder)"
NOT_RUN_NOTE = ("Not run by the autograder: this cell runs in Colab only (long training, or what the grader "
                "does itself from your submitted weights).")


def labelled(outputs: list, heading: str = SUBMITTED_HEADING) -> list:
    """``outputs`` under a heading that says whose they are (nothing when there are none)."""
    if not outputs:
        return []
    html = f'<div style="border-top: 2px solid #c60; color: #c60; font-weight: bold; margin-top: 8px">{heading}</div>'
    return [nbformat.v4.new_output("display_data", data={"text/html": html, "text/plain": f"--- {heading} ---"}),
            *[nbformat.from_dict(output) for output in outputs]]


def note(text: str):
    """A one-line output of the grading pipeline (not of the student's code)."""
    return nbformat.v4.new_output("stream", name="stdout", text=f"[autograder] {text}\n")
