"""hw2_rnn through a real `nbgrader autograde` (the course's parallel tool, SQLite gradebook).

The complete submission is the notebook as a student's own run leaves it (echo models trained, their weights
stored by the last cell), round-tripped through Colab's format; grading never trains them. Realistic bugs
of section 1 are planted in that file afterwards (code changed after the run); the student whose training
took no step submits the weights of untrained models.
"""

import pytest

from course.tools.samples import Bug, Sample
from course.pipeline.record import read_records
from support import autograded_cells, autograded_notebook, cell_text, grade, run_ahead, submitted_notebook

NOTEBOOK = "hw2_rnn"

# Realistic mistakes, each confined to one graded part.
BUGS = {
    "rnn-gate-swapped": Bug(NOTEBOOK, "gated_rnn", "h_prev = c_t * h_prev + (1 - c_t) * candidate[:, t]",
                            "h_prev = (1 - c_t) * h_prev + c_t * candidate[:, t]",
                            "hw2_rnn.gated_rnn", "swaps the gate's two terms"),
    "rnn-no-recurrence": Bug(NOTEBOOK, "gated_rnn_backward", "from_later = g * c_t + d_gate_input[:, t] @ W_h",
                             "from_later = torch.zeros_like(g)",
                             "hw2_rnn.gated_rnn_backward", "ignores what flows back through the recurrence"),
}
NEVER_LEARNED = [Bug(NOTEBOOK, "train_fixed", "max_steps=1000", "max_steps=0", "hw2_rnn.gru_memory", "never trains"),
                 Bug(NOTEBOOK, "train_variable", "max_steps=2000", "max_steps=0", "hw2_rnn.variable_delay_gru_memory",
                     "never trains")]
TEST_CELL = {  # which test cell grades each part
    "hw2_rnn.gated_rnn": "test_gated_rnn", "hw2_rnn.gated_rnn_backward": "test_gated_rnn_backward",
    "hw2_rnn.gru_memory": "test_gru_memory", "hw2_rnn.variable_delay_gru_memory": "test_variable_delay_gru_memory",
}


SAMPLES = run_ahead(
    [Sample("rnn-complete", {NOTEBOOK: None}, only={NOTEBOOK}, trained=True, through_colab=True),
     Sample("rnn-untouched", only={NOTEBOOK}),
     Sample("rnn-never-learned", {NOTEBOOK: None}, only={NOTEBOOK}, trained=True, bugs=NEVER_LEARNED)]
    + [Sample(student, {NOTEBOOK: None}, only={NOTEBOOK}, trained=True, edits_after_run=[bug]) for student, bug in BUGS.items()])


@pytest.fixture(scope="module")
def graded(course_dir):
    return grade(course_dir, SAMPLES)


def test_does_the_complete_submission_get_every_autograded_point(graded, course_dir):
    cells = autograded_cells(course_dir, NOTEBOOK)
    assert sum(cells.values()) == 32  # + 8 points of the diagram, the plot and written answers graded by a TA = 40
    result = graded["rnn-complete"]
    assert result.outcome.ok and result.outcome.grader_errors == 0
    assert {g: result.score(NOTEBOOK, g) for g in cells} == cells


def test_did_the_before_you_submit_cell_call_the_students_own_run_ready(graded, course_dir):
    said = cell_text(submitted_notebook(course_dir, "rnn-complete", NOTEBOOK), "before_you_submit")
    assert "The notebook is ready" in said and "weights stored: echo_model, variable_echo_model" in said, said


def test_does_the_untouched_release_get_no_point(graded, course_dir):
    result = graded["rnn-untouched"]
    assert result.outcome.ok
    cells = autograded_cells(course_dir, NOTEBOOK)
    assert {g: result.score(NOTEBOOK, g) for g in cells} == {g: 0 for g in cells}


@pytest.mark.parametrize("student", sorted(BUGS))
def test_does_a_bug_cost_points_in_its_own_part_only(graded, course_dir, student):
    broken = TEST_CELL[BUGS[student].part]
    result = graded[student]
    cells = autograded_cells(course_dir, NOTEBOOK)
    assert result.score(NOTEBOOK, broken) < cells[broken], f"{BUGS[student].why} went unnoticed"
    assert {g: result.score(NOTEBOOK, g) for g in cells if g != broken} == {g: m for g, m in cells.items() if g != broken}


def test_does_an_echo_model_that_never_learned_keep_only_the_interface_point(graded, course_dir):
    result = graded["rnn-never-learned"]
    assert result.score(NOTEBOOK, "test_gru_memory") == result.score(NOTEBOOK, "test_variable_delay_gru_memory") == 1.0
    cells = autograded_cells(course_dir, NOTEBOOK)
    echo = {TEST_CELL[bug.part] for bug in NEVER_LEARNED}
    assert {g: result.score(NOTEBOOK, g) for g in cells if g not in echo} == {g: m for g, m in cells.items() if g not in echo}


def test_does_the_feedback_say_what_was_checked_and_how_far_off(graded, course_dir):
    text = cell_text(autograded_notebook(course_dir, "rnn-never-learned", NOTEBOOK), "test_gru_memory")
    assert "1 / 10 points" in text and "[PASS] GRUMemory(24)" in text
    assert "character accuracy" in text and "needs 99%" in text and "Hint:" in text
    text = cell_text(autograded_notebook(course_dir, "rnn-no-recurrence", NOTEBOOK), "test_gated_rnn_backward")
    assert "largest error" in text and "tolerance" in text and "last step" in text
    assert "BEGIN HIDDEN TESTS" not in text


def test_does_grading_mode_skip_the_training_runs(graded, course_dir):
    """Nothing trains in grading: the training cells are skipped (the record says so), nothing runs long."""
    record = read_records(str(course_dir / "reports" / "grading"), "hw2", "rnn-complete")[0]
    assert record.kernel_restarts == 0 and not record.grader_errors
    outcomes = {run.grade_id: run.outcome for run in record.runs if run.grade_id}
    assert outcomes["train_fixed"] == outcomes["train_variable"] == "skipped: Colab only"
    assert max(run.seconds for run in record.runs) < 30, record.runs
    kinds = {part.kind for cell in record.cells for part in cell.parts}
    print(f"hw2_rnn graded in {record.seconds:.0f} s: " + ", ".join(
        f"{kind} {sum(p.seconds for c in record.cells for p in c.parts if p.kind == kind):.1f} s" for kind in sorted(kinds)))
