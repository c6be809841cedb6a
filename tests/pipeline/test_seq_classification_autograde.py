"""seq_classification through a real `nbgrader autograde` (the course's parallel tool, SQLite gradebook).

The grader trains each submission's fit for 100 epochs (the notebook's own long runs are skipped), so the
batch is kept small: the complete submission as the student's run left it, the untouched release, and three
realistic mistakes, each confined to one graded part. The student's own run of the notebook prints what the
autograder will give fit ("What the autograder will check"): it must be what the grader gives.
"""

import re

import pytest

from course.pipeline.record import read_records
from course.tools.samples import Bug, Sample
from support import autograded_notebook, cell_text, grade, run_ahead, submitted_notebook

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


SAMPLES = run_ahead(
    [Sample("seq-complete", {NOTEBOOK: None}, only={NOTEBOOK}, trained=True), Sample("seq-untouched", only={NOTEBOOK})]
    + [Sample(student, {NOTEBOOK: None}, bugs=[bug], only={NOTEBOOK}, trained=student == "seq-original")
       for student, bug in BUGS.items()])


@pytest.fixture(scope="module")
def graded(course_dir):
    return grade(course_dir, SAMPLES)


def predicted_points(course_dir, student) -> float:
    """What the student's own run printed as the autograder's points for fit (the preview cell)."""
    text = cell_text(submitted_notebook(course_dir, student, NOTEBOOK), "fit_preview")
    return float(re.search(r"The autograder's points for this fit: ([0-9.]+) / 5", text).group(1))


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


def test_did_the_before_you_submit_cell_call_the_students_own_run_ready(graded, course_dir):
    said = cell_text(submitted_notebook(course_dir, "seq-complete", NOTEBOOK), "before_you_submit")
    assert "The notebook is ready" in said and "NOT READY" not in said, said


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


def test_does_the_unchanged_original_procedure_earn_nothing_and_say_why(graded, course_dir):
    # At SEED the original procedure ends at 99 % (bench/calibrate_spikes.txt), but it spikes: no free points.
    text = cell_text(autograded_notebook(course_dir, "seq-original", NOTEBOOK), "test_fit")
    assert "0 / 5 points" in text and "accuracy earns points only on a run without spikes" in text
    assert "train_loss has" in text and "spike(s), at train_loss[" in text and "threshold 1" in text
    assert "Hint:" in text and "BEGIN HIDDEN TESTS" not in text


@pytest.mark.parametrize("student", ["seq-complete", "seq-original"])
def test_does_the_colab_preview_give_the_graders_points_for_fit(graded, course_dir, student):
    assert predicted_points(course_dir, student) == graded[student].score(NOTEBOOK, "test_fit")


def test_does_the_feedback_name_the_reinitialisation(graded, course_dir):
    text = cell_text(autograded_notebook(course_dir, "seq-reinit", NOTEBOOK), "test_fit")
    assert "0 / 5 points" in text and "must not re-initialise the model" in text


def test_does_grading_mode_skip_the_notebooks_own_long_runs(graded, course_dir):
    """The notebook's 100-epoch runs and its plots are skipped (the record says so); the grader's own run of
    fit is the procedure part."""
    record = read_records(str(course_dir / "reports" / "grading"), "hw2", "seq-complete")[0]
    assert record.kernel_restarts == 0 and record.grader_errors == []
    outcomes = {run.grade_id: run.outcome for run in record.runs if run.grade_id}
    skipped = {"easy_run", "original_run", "original_states", "fit_preview", "fit_comparison", "fit_check", "fit_states",
               "ec_plot", "before_you_submit"}
    assert {name: outcomes[name] for name in skipped} == {name: "skipped: Colab only" for name in skipped}
    assert max(run.seconds for run in record.runs) < 30, record.runs
    kinds = {part.kind for cell in record.cells for part in cell.parts}
    print(f"seq_classification graded in {record.seconds:.0f} s: " + ", ".join(
        f"{kind} {sum(p.seconds for c in record.cells for p in c.parts if p.kind == kind):.1f} s" for kind in sorted(kinds)))
