"""seq_classification through a real `nbgrader autograde` (the course's parallel tool, SQLite gradebook).

Every submission executes the whole notebook in a sandboxed kernel and the grader trains its fit for 100
epochs, so the batch is kept small: the complete submission, the untouched release, and three realistic
mistakes, each confined to one graded part.
"""

import json

import pytest

from course.tools.samples import Bug, Sample
from support import autograded_notebook, cell_text, grade

NOTEBOOK = "seq_classification"
# The autograded cells and their points: 2 + 5 regular (+ 8 written, graded by a TA = 15), and 3 of the
# 5 extra-credit points (the other 2 are a plot, graded by a TA).
AUTOGRADED = {"test_initial_values": 2, "test_fit": 5, "ec_norms": 3}

BUGS = {
    "seq-original": Bug(NOTEBOOK, "fit", "    x, y = train_data\n",
                        "    return fit_original(model, train_data, test_data, epochs)\n    x, y = train_data\n",
                        "seq_classification.fit", "keeps the original, spiky procedure"),
    "seq-bits": Bug(NOTEBOOK, "initial_values", "math.log(len(CLASSES))", "math.log2(len(CLASSES))",
                    "seq_classification.initial_values", "gives the loss in bits instead of nats"),
    "seq-reinit": Bug(NOTEBOOK, "fit", "    x, y = train_data\n",
                      "    for layer in model.children():  # a fresh start\n        layer.reset_parameters()\n"
                      "    x, y = train_data\n",
                      "seq_classification.fit", "re-initialises the model's weights"),
}
TEST_CELL = {"seq_classification.fit": "test_fit", "seq_classification.initial_values": "test_initial_values"}


@pytest.fixture(scope="module")
def graded(course_dir):
    everything, only = {NOTEBOOK: None}, {NOTEBOOK}
    samples = [Sample("seq-complete", everything, only=only), Sample("seq-untouched", only=only)]
    samples += [Sample(student, everything, bugs=[bug], only=only) for student, bug in BUGS.items()]
    return grade(course_dir, samples)


def scores(result) -> dict:
    return {cell: result.score(NOTEBOOK, cell) for cell in AUTOGRADED}


def test_are_the_autograded_cells_the_ones_expected(graded):
    assert {cell: graded["seq-complete"].maxima[NOTEBOOK][cell] for cell in AUTOGRADED} == AUTOGRADED
    manual = {cell: points for cell, points in graded["seq-complete"].maxima[NOTEBOOK].items() if cell not in AUTOGRADED}
    assert manual == {"initial_reason": 1, "soft_argmax": 1, "spikes_cause": 2, "spikes_above_initial": 2,
                      "spikes_fixes": 2, "ec_plot": 2}
    regular = sum(p for cell, p in graded["seq-complete"].maxima[NOTEBOOK].items() if not cell.startswith("ec_"))
    assert regular == 15


def test_does_the_complete_submission_get_every_autograded_point(graded):
    result = graded["seq-complete"]
    assert result.outcome.ok and result.outcome.grader_errors == 0
    assert scores(result) == AUTOGRADED


def test_does_the_untouched_release_get_no_point(graded):
    result = graded["seq-untouched"]
    assert result.outcome.ok and result.outcome.grader_errors == 0
    assert scores(result) == {cell: 0 for cell in AUTOGRADED}


@pytest.mark.parametrize("student", sorted(BUGS))
def test_does_a_bug_cost_points_in_its_own_part_only(graded, student):
    broken = TEST_CELL[BUGS[student].part]
    result = graded[student]
    assert result.outcome.ok and result.outcome.grader_errors == 0
    assert result.score(NOTEBOOK, broken) < AUTOGRADED[broken], f"{BUGS[student].why} went unnoticed"
    assert {c: s for c, s in scores(result).items() if c != broken} == {c: p for c, p in AUTOGRADED.items() if c != broken}


def test_does_the_feedback_say_why_the_original_procedure_loses_the_spike_points(graded, course_dir):
    # At SEED the original procedure ends at 99 % (bench/calibrate_spikes.txt): it earns the accuracy half only.
    text = cell_text(autograded_notebook(course_dir, "seq-original", NOTEBOOK), "test_fit")
    assert "2.5 / 5 points" in text and "[PASS] final test accuracy at least 95%" in text
    assert "train_loss has" in text and "spike(s), at train_loss[" in text and "threshold 1" in text
    assert "Hint:" in text and "BEGIN HIDDEN TESTS" not in text


def test_does_the_feedback_name_the_reinitialisation(graded, course_dir):
    text = cell_text(autograded_notebook(course_dir, "seq-reinit", NOTEBOOK), "test_fit")
    assert "0 / 5 points" in text and "must not re-initialise the model" in text


def test_is_the_complete_submission_graded_in_about_a_minute(graded, course_dir):
    """The whole notebook in grading mode plus the grader's own 100-epoch run of fit (one CPU thread)."""
    record = json.loads((course_dir / "reports" / "grading" / "hw2" / "seq-complete" / f"{NOTEBOOK}.json").read_text())
    assert record["kernel_restarts"] == 0 and record["grader_errors"] == []
    seconds = {cell["grade_id"]: max(part["seconds"] for part in cell["parts"]) for cell in record["cells"]}
    print(f"seq_classification graded in {record['seconds']:.0f} s; grading per cell: {seconds}")
    assert record["seconds"] < 180  # ~35 s on an idle core; generous for a loaded CI machine
