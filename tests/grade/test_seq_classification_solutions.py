"""Does the seq_classification notebook's given code behave exactly as the course's, and do its solutions
pass every grader? And do the graders see the mistakes they are there to see?"""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from course.data import temporal_order
from course.grade.checker import PARTS, find_part, grade_part
from course.grade.seq_classification import judge_fit
from course.grade.subject import LocalSubject
from course.probes.common import torch_threads
from course.probes.seq_classification import FitRun, NormRecorder
from course.reference import seq_training, spikes
from course.reference.seq_models import build_lstm, build_rnn
from course.same_numbers import SAME_NUMBERS_ENV
from course.tools.notebooks import grade_id, read, run_in_process

NOTEBOOK = "seq_classification"


@pytest.fixture(scope="module")
def notebook(repo):
    """The namespace of the source notebook run top to bottom, without the runs and plots (Colab only:
    exercised end to end in tests/pipeline)."""
    with torch_threads(torch.get_num_threads()):  # the setup cell asks for one thread; the session keeps its own
        yield run_in_process(read(str(repo / "source" / "hw2" / f"{NOTEBOOK}.ipynb")))


def same_data(ours, theirs) -> bool:
    return torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1]) and ours[0].dtype == theirs[0].dtype


# ---------------------------------------------------------------------------------------------
# The given code is the course's

def test_are_the_task_constants_the_courses(notebook):
    for name in ("SYMBOLS", "DISTRACTORS", "CLASSES", "PAIR_TO_CLASS", "N_TRAIN", "N_TEST", "TEST_SEED"):
        assert notebook[name] == getattr(temporal_order, name), name
    assert {level.name: level.value.__dict__ for level in notebook["DifficultyLevel"]} == \
        {level.name: level.value.__dict__ for level in temporal_order.DifficultyLevel}


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_does_the_notebook_draw_the_same_training_set(notebook, seed):
    assert same_data(notebook["training_set"](seed), temporal_order.training_set(seed))


def test_is_the_held_out_set_the_same(notebook):
    assert same_data(notebook["held_out_set"](), temporal_order.held_out_set())


@pytest.mark.parametrize("level", [level.name for level in temporal_order.DifficultyLevel])
def test_does_every_level_give_the_same_sequences(notebook, level):
    ours = notebook["make_dataset"](40, notebook["DifficultyLevel"][level], 3)
    assert same_data(ours, temporal_order.make_dataset(40, temporal_order.DifficultyLevel[level], 3))
    assert isinstance(ours, notebook["SequenceData"]) and ours.x is ours[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_does_build_lstm_give_the_same_weights_and_leave_the_same_random_state(notebook, seed):
    ours = notebook["build_lstm"](seed)
    ours_state = torch.get_rng_state()
    theirs = build_lstm(seed)
    assert torch.equal(ours_state, torch.get_rng_state())  # so the minibatch order that follows is the same too
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    assert all(torch.equal(ours.state_dict()[k], v) for k, v in theirs.state_dict().items())
    rnn, reference_rnn = notebook["build_rnn"](seed), build_rnn(seed)
    assert all(torch.equal(rnn.state_dict()[k], v) for k, v in reference_rnn.state_dict().items())


def test_do_the_models_compute_the_same_logits(notebook):
    x = temporal_order.make_dataset(16, temporal_order.DifficultyLevel.NORMAL, 5).x
    for build, reference in ((notebook["build_lstm"], build_lstm), (notebook["build_rnn"], build_rnn)):
        assert torch.equal(build(4)(x), reference(4)(x))
    data = temporal_order.held_out_set()
    assert notebook["evaluate"](build_lstm(0), data) == seq_training.evaluate(build_lstm(0), data)


def spiky_curves():
    """Curves that exercise every branch of the criterion: noise, a plateau, jumps near the thresholds, NaN."""
    rng = np.random.default_rng(0)
    falling = (0.05 + 1.33 * np.exp(-np.arange(600) / 150)) * np.exp(rng.normal(0, 0.1, 600))
    jumps = falling.copy()
    jumps[[100, 250, 251, 400]] += [1.2, 0.9, 3.0, 1.05]
    diverged = falling.copy()
    diverged[300:] = math.nan
    plateau = math.log(4) + rng.normal(0, 0.3, 400)  # noisy enough to cross the test threshold now and then
    return [falling, jumps, diverged, plateau, [1.0], [], np.linspace(2, 0, 30).tolist()]


@pytest.mark.parametrize("index", range(len(spiky_curves())))
def test_does_the_spike_criterion_decide_as_the_courses(notebook, index):
    curve = spiky_curves()[index]
    assert notebook["SPIKE_WINDOW"] == spikes.SPIKE_WINDOW and notebook["CURVE_MIN_RISES"] == spikes.CURVE_MIN_RISES
    np.testing.assert_array_equal(notebook["rises"](curve), spikes.rises(curve))
    for min_rise in (spikes.TRAIN_MIN_RISE, spikes.TEST_MIN_RISE):
        assert notebook["find_spikes"](curve, min_rise) == spikes.find_spikes(curve, min_rise)
    history = {"train_loss": curve, "test_loss": curve}
    assert notebook["count_spikes"](history) == spikes.count_spikes(history)
    assert notebook["has_spikes"](history) == spikes.has_spikes(history)


def test_does_the_spike_criterion_find_the_planted_spikes(notebook):
    jumps = spiky_curves()[1]
    assert notebook["find_spikes"](jumps, spikes.TRAIN_MIN_RISE) == [100, 251, 400]


def test_does_the_setup_cell_cap_the_cpu_kernels_as_the_grader_does(repo):
    setup = next(cell for cell in read(str(repo / "source" / "hw2" / f"{NOTEBOOK}.ipynb")).cells if grade_id(cell) == "setup")
    report = "import json\nprint(json.dumps([torch.backends.cpu.get_cpu_capability(), {k: os.environ[k] for k in %r}]))" % (
        sorted(SAME_NUMBERS_ENV),)
    clean = {key: value for key, value in os.environ.items() if key not in SAME_NUMBERS_ENV}
    run = subprocess.run([sys.executable, "-c", setup.source + "\n" + report], env=clean, capture_output=True, text=True,
                         check=True)
    capability, environment = json.loads(run.stdout.strip().splitlines()[-1])
    assert environment == SAME_NUMBERS_ENV and capability == "AVX2"


def test_does_the_notebook_train_as_the_grader_does(notebook):
    for name in ("SEED", "EPOCHS", "BATCH_SIZE", "ORIGINAL_LR"):
        assert notebook[name] == getattr(seq_training, name), name


def test_is_fit_original_the_reference_procedure(notebook, one_thread):
    run = seq_training.setup_run()
    expected = seq_training.fit_original(run.model, run.train_data, run.test_data, 3)
    got = notebook["fit_original"](notebook["build_lstm"](seq_training.SEED), notebook["training_set"](seq_training.SEED),
                                   notebook["held_out_set"](), 3)
    assert got == expected


def test_is_the_solution_fit_the_reference_clipped_fix(notebook, one_thread):
    run = seq_training.setup_run()
    expected = seq_training.fit_clipped(run.model, run.train_data, run.test_data, 3)
    run = seq_training.setup_run()
    assert notebook["fit"](run.model, run.train_data, run.test_data, 3) == expected


def test_are_the_solution_values_the_references(notebook):
    assert notebook["INITIAL_LOSS"] == seq_training.INITIAL_LOSS
    assert notebook["INITIAL_ACCURACY"] == seq_training.INITIAL_ACCURACY


def test_does_the_solution_record_norms_as_the_reference_recorder(notebook, one_thread):
    run = seq_training.setup_run()
    with NormRecorder(run.model) as recorder:
        result = notebook["record_norms"](seq_training.fit_clipped, run.model, run.train_data, run.test_data, 1)
    assert result["grad_norm"] == recorder.grad_norm and result["weight_norm"] == recorder.weight_norm
    assert len(result["train_loss"]) == recorder.steps == 32


# ---------------------------------------------------------------------------------------------
# The solutions pass every grader

def test_does_every_seq_classification_grader_give_the_solutions_full_marks(notebook):
    find_part(f"{NOTEBOOK}.fit")
    threads = torch.get_num_threads()
    ids = sorted(p for p in PARTS if p.startswith(f"{NOTEBOOK}."))
    assert ids == [f"{NOTEBOOK}.fit", f"{NOTEBOOK}.initial_values", f"{NOTEBOOK}.record_norms"]
    for part_id in ids:
        result = grade_part(part_id, LocalSubject(notebook))
        assert result.fraction == 1.0, result.report(PARTS[part_id].points)
    assert torch.get_num_threads() == threads  # the probes train with one thread and restore the count


# ---------------------------------------------------------------------------------------------
# The graders see mistakes (fast: the judge on made-up runs, or short runs)

def made_up_outcome(**changes) -> FitRun:
    """The raw data a probe would return for a run that ends with the given LSTM's weights after 64 steps."""
    model = build_lstm(seq_training.SEED)
    loss, accuracy = seq_training.evaluate(model, temporal_order.held_out_set())
    fields = {
        "history": {"train_loss": [loss] * 64, "test_loss": [loss] * 2, "test_acc": [accuracy] * 2},
        "state": model.state_dict(), "first_step_weights": dict(model.state_dict()), "steps": 64,
        "grad_norm": {}, "weight_norm": {}, "torch_seed": seq_training.SEED,
    }
    return FitRun(**{**fields, **changes})


def test_does_the_judge_accept_a_consistent_run():
    verdict = judge_fit(made_up_outcome(), epochs=2)
    assert verdict.start_problems == [] and verdict.curve_problems == []
    assert verdict.accuracy == pytest.approx(0.238, abs=1e-3)  # the fresh LSTM's: the judge's own evaluation


def test_does_the_judge_see_a_reinitialised_model():
    other = build_lstm(1).state_dict()
    verdict = judge_fit(made_up_outcome(first_step_weights=other), epochs=2)
    assert any("re-initialise" in p for p in verdict.start_problems)


def test_does_the_judge_see_a_new_model_a_reseeded_run_and_a_changed_architecture():
    assert any("no optimisation step" in p for p in judge_fit(made_up_outcome(steps=0, first_step_weights=None), 2).start_problems)
    assert any("re-seeded" in p for p in judge_fit(made_up_outcome(torch_seed=1), 2).start_problems)
    state = dict(build_lstm(0).state_dict(), extra=torch.zeros(3))
    assert any("must not change the model" in p for p in judge_fit(made_up_outcome(state=state), 2).start_problems)


@pytest.mark.parametrize("change,problem", [
    (lambda h: h.update(train_loss=h["train_loss"][:32]), "one value per step"),
    (lambda h: h.update(test_acc=h["test_acc"][:1]), "one value per epoch"),
    (lambda h: h.update(test_acc=[0.99, 0.99]), "not the accuracy of the final weights"),
    (lambda h: h.update(test_loss=[0.1, 0.1]), "not the mean cross-entropy of the final weights"),
    (lambda h: h.update(test_acc=[23.0, 23.2]), "outside [0, 1]"),
    (lambda h: h.pop("test_loss"), "history['test_loss'] is missing"),
])
def test_does_the_judge_see_curves_that_are_not_the_runs(change, problem):
    outcome = made_up_outcome()
    change(outcome.history)
    verdict = judge_fit(outcome, epochs=2)
    assert verdict.start_problems == [] and any(problem in p for p in verdict.curve_problems), verdict.curve_problems


def test_does_a_fit_that_never_steps_score_nothing():
    def fit(model, train_data, test_data, epochs):  # trains a model of its own, not the one it is given
        return {"train_loss": [], "test_loss": [1.4] * epochs, "test_acc": [0.25] * epochs}

    namespace = {"fit": fit, "SimpleLSTM": type(build_lstm(0))}
    result = grade_part(f"{NOTEBOOK}.fit", LocalSubject(namespace))
    assert result.fraction == 0.0
    assert "no optimisation step" in result.report(5)


def test_does_a_recorder_that_reads_the_clipped_gradients_lose_the_grader_procedure_case(notebook):
    from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

    def record_norms(fit_function, model, train_data, test_data, epochs):
        """Reads the gradients in the step pre-hook: after clipping."""
        grads = {name: [] for name, _ in model.named_parameters()}
        weights = {name: [] for name, _ in model.named_parameters()}

        def before_step(optimizer, args, kwargs):
            for name, param in model.named_parameters():
                grads[name].append(param.grad.norm().item())

        def after_step(optimizer, args, kwargs):
            for name, param in model.named_parameters():
                weights[name].append(param.detach().norm().item())

        pre, post = register_optimizer_step_pre_hook(before_step), register_optimizer_step_post_hook(after_step)
        try:
            history = fit_function(model, train_data, test_data, epochs)
        finally:
            pre.remove()
            post.remove()
        return dict(history, grad_norm=grads, weight_norm=weights)

    result = grade_part(f"{NOTEBOOK}.record_norms", LocalSubject(dict(notebook, record_norms=record_norms)))
    report = result.report(3)
    assert not result.findings[0].passed and "grad_norm['lstm.weight_ih_l0'][0]" in result.findings[0].detail, report
    assert result.findings[1].passed, report  # the solution's fit clips at 1, above most gradients of 2 epochs
    assert result.points(3) == 1.0
