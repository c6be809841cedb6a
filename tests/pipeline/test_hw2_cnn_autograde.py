"""hw2_cnn through a real `nbgrader autograde` (the course's parallel tool, SQLite gradebook).

The complete submission is the notebook as a student's own run leaves it (trained on the grading data, its
weights stored by its last cell), also round-tripped through Colab's format; realistic bugs are planted in
that file afterwards (code changed after the run), so each costs points in its own part only. Submissions
whose weights are missing or broken lose the weights part alone, with a message.
"""

import copy
import json

import nbformat
import pytest
import torch

from course.grade.weights import WEIGHTS_MIME
from course.pipeline.record import read_records
from course.tools.samples import Bug, Sample
from course.pipeline.rubrics import HEADING, is_rubric
from course.tools.nbgrader_cmd import nbgrader
from support import (autograded_cells, autograded_notebook, cell_text, formgrader_page, grade, manual_cells, run_ahead,
                     submitted_notebook, weights_encoder)

NOTEBOOK = "hw2_cnn"
# Sections 1-4: 7.5 + 14 + 4 + 5 = 30.5, section 5: 9.5; + 5 points of written answers graded by a TA = 45.
AUTOGRADED_POINTS = 40

# Realistic mistakes, each confined to one graded part.
BUGS = {
    "cnn-dilation": Bug(NOTEBOOK, "conv_output_size", "span = dilation * (kernel_size - 1) + 1", "span = kernel_size",
                        "hw2_cnn.conv_output_size", "forgets the dilation"),
    "cnn-no-bias": Bug(NOTEBOOK, "conv2d_forward", "        out += b.reshape(1, filters, 1, 1)", "        pass",
                       "hw2_cnn.conv2d_forward", "never adds the bias"),
    "cnn-db": Bug(NOTEBOOK, "conv2d_backward", "db = dout.sum(dim=(0, 2, 3))", "db = dout[0].sum(dim=(1, 2))",
                  "hw2_cnn.conv2d_backward", "sums db over the first example only"),
    "cnn-overlap": Bug(NOTEBOOK, "pooling", "accumulate=True", "accumulate=False",
                       "hw2_cnn.max_pool2d_backward", "overlapping windows overwrite each other's gradient"),
    "cnn-lp-mean": Bug(NOTEBOOK, "pooling", ".pow(p).sum(dim=-1)", ".pow(p).mean(dim=-1)",
                       "hw2_cnn.lp_pool2d_forward", "averages x**p instead of summing"),
    "cnn-item": Bug(NOTEBOOK, "training_helpers", "    return loss, n_correct", "    return loss.item(), n_correct",
                    "hw2_cnn.get_loss_and_correct", "returns a float, detached from the graph"),
    "cnn-ties-last": Bug(NOTEBOOK, "tiny_net_gradients", "0 if u[0] >= u[1] else 1, 1 if u[1] >= u[2] else 2",
                         "0 if u[0] > u[1] else 1, 1 if u[1] > u[2] else 2",
                         "hw2_cnn.tiny_net_gradients", "sends the gradient of equal maxima to the last of the window"),
    "cnn-no-residual": Bug(NOTEBOOK, "convnet", "torch.relu(self.body(x) + self.shortcut(x))", "torch.relu(self.body(x))",
                           "hw2_cnn.convnet_contract", "drops the residual connection"),
}
TEST_CELL = {  # which test cell grades each part
    "hw2_cnn.conv_output_size": "test_conv_output_size", "hw2_cnn.conv2d_forward": "test_conv2d_forward",
    "hw2_cnn.conv2d_backward": "test_conv2d_backward", "hw2_cnn.max_pool2d_backward": "test_max_pool2d_backward",
    "hw2_cnn.lp_pool2d_forward": "test_lp_pool2d_forward", "hw2_cnn.get_loss_and_correct": "test_get_loss_and_correct",
    "hw2_cnn.convnet_contract": "test_convnet_contract", "hw2_cnn.tiny_net_gradients": "test_tiny_net_gradients",
}
WEIGHTS_CELL = "test_convnet_accuracy"
COLAB_ONLY_CELLS = {"data", "train_loop", "plot_curves", "visualise", "submit_weights", "before_you_submit"}


def weights_output(nb):
    """The output of the notebook's submit_weights cell that carries the weights."""
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "submit_weights")
    return next(o for o in cell.outputs if WEIGHTS_MIME in o.get("data", {}))


def with_weights(change):
    """The trained notebook with its stored weights changed by ``change(payload)`` (None removes them)."""
    def edit(nb):
        nb = copy.deepcopy(nb)
        output = weights_output(nb)
        payload = change(output["data"][WEIGHTS_MIME])
        if payload is None:
            output["data"].pop(WEIGHTS_MIME)
        else:
            output["data"][WEIGHTS_MIME] = payload
        return nb
    return edit


def untrained_weights(payload):
    """The weights of a fresh, untrained ConvNet of the reference architecture, in the notebook's encoding."""
    namespace = weights_encoder(NOTEBOOK)
    torch.manual_seed(1)
    fresh = _reference_convnet()
    return namespace["encode_weights"]({"convnet": fresh}, torch.float16)


def _reference_convnet():
    from course.reference.cnn_models import ConvNet

    return ConvNet()


def wrong_shapes(payload):
    """The first convolution's weight (32, 3, 3, 3) declared as (3, 32, 3, 3): the same data, a shape no
    ConvNet of the class has."""
    payload = copy.deepcopy(payload)
    tensor = next(iter(payload["models"]["convnet"]["tensors"].values()))
    tensor["shape"] = [tensor["shape"][1], tensor["shape"][0], *tensor["shape"][2:]]
    return payload


def oversized(payload):
    payload = copy.deepcopy(payload)
    payload["models"]["convnet"]["tensors"]["huge"] = {"dtype": "float32", "shape": [3_000_000], "data": "AAAA"}
    return payload


def not_decodable(payload):
    payload = copy.deepcopy(payload)
    next(iter(payload["models"]["convnet"]["tensors"].values()))["data"] = "this is not base64!"
    return payload


WEIGHTS_PROBLEMS = {  # student -> (how the stored weights were broken, what the feedback must say)
    "cnn-weights-untrained": (untrained_weights, "needs 75%"),
    "cnn-weights-missing": (lambda payload: None, "holds no trained weights for convnet"),
    "cnn-weights-shapes": (wrong_shapes, "do not fit your ConvNet class"),
    "cnn-weights-oversized": (oversized, "larger than the limit"),
    "cnn-weights-garbled": (not_decodable, "not valid base64"),
}


class Edited(Sample):
    """A submission made from another notebook file by a change of the test's own."""

    def __init__(self, student, text: str, change):
        super().__init__(student, only={NOTEBOOK})
        self.text, self.change = text, change

    def notebooks(self, root):
        return {NOTEBOOK: nbformat.writes(self.change(nbformat.reads(self.text, as_version=4)))}


SAMPLES = run_ahead(
    [Sample("cnn-complete", {NOTEBOOK: None}, only={NOTEBOOK}, trained=True), Sample("cnn-untouched", only={NOTEBOOK}),
     Sample("cnn-unrun", {NOTEBOOK: None}, only={NOTEBOOK}),
     Sample("cnn-colab", {NOTEBOOK: None}, through_colab=True, only={NOTEBOOK}, trained=True)]
    + [Sample(student, {NOTEBOOK: None}, only={NOTEBOOK}, trained=True, edits_after_run=[bug]) for student, bug in BUGS.items()])


@pytest.fixture(scope="module")
def graded(course_dir):
    run = SAMPLES[0].notebooks(str(course_dir))[NOTEBOOK]  # the complete student's own run (cached)
    return grade(course_dir, SAMPLES + [Edited(student, run, with_weights(change))
                                        for student, (change, _) in WEIGHTS_PROBLEMS.items()])


def test_does_the_complete_trained_submission_get_every_autograded_point(graded, course_dir):
    cells = autograded_cells(course_dir, NOTEBOOK)
    assert sum(cells.values()) == AUTOGRADED_POINTS
    result = graded["cnn-complete"]
    assert result.outcome.ok and result.outcome.grader_errors == 0
    assert {g: result.score(NOTEBOOK, g) for g in cells} == cells


def test_did_the_before_you_submit_cell_call_the_students_own_run_ready(graded, course_dir):
    said = cell_text(submitted_notebook(course_dir, "cnn-complete", NOTEBOOK), "before_you_submit")
    assert "The notebook is ready" in said and "weights stored: convnet" in said, said


def test_does_the_untouched_release_get_no_point(graded, course_dir):
    result = graded["cnn-untouched"]
    assert result.outcome.ok
    assert {g: result.score(NOTEBOOK, g) for g in autograded_cells(course_dir, NOTEBOOK)} == \
        {g: 0 for g in autograded_cells(course_dir, NOTEBOOK)}


def test_does_a_trained_notebook_round_tripped_through_colab_keep_the_full_score(graded, course_dir):
    cells = autograded_cells(course_dir, NOTEBOOK)
    assert {g: graded["cnn-colab"].score(NOTEBOOK, g) for g in cells} == cells


# A change of the ConvNet class after training also changes what the stored weights compute: the weights
# part may lose points with it (the student's own model is evaluated as the file defines it).
DEPENDENT_CELLS = {"hw2_cnn.convnet_contract": {WEIGHTS_CELL}}


@pytest.mark.parametrize("student", sorted(BUGS))
def test_does_a_bug_cost_points_in_its_own_part_only(graded, course_dir, student):
    broken = TEST_CELL[BUGS[student].part]
    dependent = DEPENDENT_CELLS.get(BUGS[student].part, set())
    result = graded[student]
    cells = autograded_cells(course_dir, NOTEBOOK)
    assert result.score(NOTEBOOK, broken) < cells[broken], f"{BUGS[student].why} went unnoticed"
    unaffected = {g: m for g, m in cells.items() if g != broken and g not in dependent}
    assert {g: result.score(NOTEBOOK, g) for g in unaffected} == unaffected


@pytest.mark.parametrize("student", sorted(WEIGHTS_PROBLEMS))
def test_do_broken_weights_cost_the_weights_part_only_with_a_message(graded, course_dir, student):
    cells = autograded_cells(course_dir, NOTEBOOK)
    result = graded[student]
    assert result.outcome.ok and result.outcome.grader_errors == 0
    assert result.score(NOTEBOOK, WEIGHTS_CELL) <= cells[WEIGHTS_CELL] / 2
    assert {g: result.score(NOTEBOOK, g) for g in cells if g != WEIGHTS_CELL} == \
        {g: m for g, m in cells.items() if g != WEIGHTS_CELL}
    text = cell_text(autograded_notebook(course_dir, student, NOTEBOOK), WEIGHTS_CELL)
    assert WEIGHTS_PROBLEMS[student][1] in text, text


def test_does_a_notebook_that_never_ran_get_the_learn_check_at_most(graded, course_dir):
    result = graded["cnn-unrun"]
    text = cell_text(autograded_notebook(course_dir, "cnn-unrun", NOTEBOOK), WEIGHTS_CELL)
    assert "holds no trained weights for convnet" in text and "learn-check" in text
    assert 0 < result.score(NOTEBOOK, WEIGHTS_CELL) <= 1.5


def test_does_grading_mode_skip_the_colab_only_runs(graded, course_dir):
    """The record says which cells ran and how long: the training ones were skipped, nothing ran long."""
    record = read_records(str(course_dir / "reports" / "grading"), "hw2", "cnn-complete")[0]
    outcomes = {run.grade_id: run.outcome for run in record.runs if run.grade_id}
    assert {name: outcomes[name] for name in COLAB_ONLY_CELLS} == {name: "skipped: Colab only" for name in COLAB_ONLY_CELLS}
    assert all(run.outcome == "ran" for run in record.runs if run.grade_id not in COLAB_ONLY_CELLS), record.runs
    assert max(run.seconds for run in record.runs) < 30, record.runs
    kinds = {part.kind for cell in record.cells for part in cell.parts}
    assert kinds == {"probes", "weights"}
    print(f"hw2_cnn graded in {record.seconds:.0f} s: " + ", ".join(
        f"{kind} {sum(p.seconds for c in record.cells for p in c.parts if p.kind == kind):.1f} s" for kind in sorted(kinds)))


def test_does_the_ta_see_the_students_own_outputs_of_the_skipped_cells(graded, course_dir):
    nb = autograded_notebook(course_dir, "cnn-complete", NOTEBOOK)
    curves = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "train_loop")
    text = json.dumps(curves.outputs)
    assert "Not run by the autograder" in text and "As submitted from Colab" in text and "test accuracy" in text
    weights = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "submit_weights")
    assert WEIGHTS_MIME not in json.dumps(weights.outputs) and "sha256" in json.dumps(weights.outputs)


def test_does_the_feedback_say_what_was_checked_and_how_far_off(graded, course_dir):
    text = cell_text(autograded_notebook(course_dir, "cnn-no-bias", NOTEBOOK), "test_conv2d_forward")
    assert "[FAIL] output on x (2, 3, 7, 6), w (4, 3, 3, 3), bias" in text
    assert "largest error" in text and "tolerance" in text and "Hint:" in text
    assert "BEGIN HIDDEN TESTS" not in text


def test_does_the_ta_see_a_rubric_below_every_hand_graded_cell(graded, course_dir):
    manual = manual_cells(course_dir, NOTEBOOK)
    assert sum(manual.values()) == 5
    cells = autograded_notebook(course_dir, "cnn-complete", NOTEBOOK).cells
    below = {grade_id: cells[i + 1] for i, c in enumerate(cells[:-1])
             if (grade_id := c.metadata.get("nbgrader", {}).get("grade_id")) in manual}
    assert set(below) == set(manual) and all(is_rubric(cell) for cell in below.values())
    assert all("Full (1)" in below[g].source or "1 point" in below[g].source for g in manual), below
    page = formgrader_page(course_dir, "cnn-complete", NOTEBOOK)
    assert page.count(HEADING) == len(manual)
    assert "vertical edges" in page and "As submitted from Colab" in page  # a model answer; the student's outputs


def test_does_the_students_feedback_leave_the_rubrics_out(graded, course_dir):
    nbgrader(["generate_feedback", "hw2", "--force", "--student=cnn-complete"], str(course_dir),
             log_path=str(course_dir / "reports" / "feedback-cnn-complete.log"))
    html = (course_dir / "feedback" / "cnn-complete" / "hw2" / f"{NOTEBOOK}.html").read_text()
    assert HEADING not in html and "Compare with" not in html and "Model answer" not in html
    assert "As submitted from Colab" in html and "[PASS]" in html
