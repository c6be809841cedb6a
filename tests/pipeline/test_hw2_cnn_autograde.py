"""hw2_cnn through a real `nbgrader autograde` (the course's parallel tool, SQLite gradebook)."""

import pytest

from course.tools.samples import Bug, Sample
from support import autograded_cells, autograded_notebook, cell_text, grade

NOTEBOOK = "hw2_cnn"

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


@pytest.fixture(scope="module")
def graded(course_dir):
    everything = {NOTEBOOK: None}
    only = {NOTEBOOK}
    samples = [Sample("cnn-complete", everything, only=only), Sample("cnn-untouched", only=only),
               Sample("cnn-colab", everything, through_colab=True, only=only)]
    samples += [Sample(student, everything, bugs=[bug], only=only) for student, bug in BUGS.items()]
    return grade(course_dir, samples)


def test_does_the_complete_submission_get_every_autograded_point(graded, course_dir):
    cells = autograded_cells(course_dir, NOTEBOOK)
    # sections 1-4: 7.5 + 14 + 4 + 5 = 30.5, section 5: 12; + 5 points of written answers graded by a TA
    assert sum(cells.values()) == 42.5
    result = graded["cnn-complete"]
    assert result.outcome.ok and result.outcome.grader_errors == 0
    assert {g: result.score(NOTEBOOK, g) for g in cells} == cells


def test_does_the_untouched_release_get_no_point(graded, course_dir):
    result = graded["cnn-untouched"]
    assert result.outcome.ok
    assert {g: result.score(NOTEBOOK, g) for g in autograded_cells(course_dir, NOTEBOOK)} == \
        {g: 0 for g in autograded_cells(course_dir, NOTEBOOK)}


def test_does_a_notebook_round_tripped_through_colab_keep_the_full_score(graded, course_dir):
    cells = autograded_cells(course_dir, NOTEBOOK)
    assert {g: graded["cnn-colab"].score(NOTEBOOK, g) for g in cells} == cells


@pytest.mark.parametrize("student", sorted(BUGS))
def test_does_a_bug_cost_points_in_its_own_part_only(graded, course_dir, student):
    broken = TEST_CELL[BUGS[student].part]
    result = graded[student]
    cells = autograded_cells(course_dir, NOTEBOOK)
    assert result.score(NOTEBOOK, broken) < cells[broken], f"{BUGS[student].why} went unnoticed"
    assert {g: result.score(NOTEBOOK, g) for g in cells if g != broken} == {g: m for g, m in cells.items() if g != broken}


def test_does_the_feedback_say_what_was_checked_and_how_far_off(graded, course_dir):
    text = cell_text(autograded_notebook(course_dir, "cnn-no-bias", NOTEBOOK), "test_conv2d_forward")
    assert "[FAIL] output on x (2, 3, 7, 6), w (4, 3, 3, 3), bias" in text
    assert "largest error" in text and "tolerance" in text and "Hint:" in text
    assert "BEGIN HIDDEN TESTS" not in text
