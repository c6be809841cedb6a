"""Graders of seq_classification.ipynb: the values before training, ``fit`` without spikes, and the
extra-credit norm recorder.

Nothing the score depends on is taken from the kernel on trust. The grader builds the data
(``course.data.temporal_order``) and the initial weights (``build_lstm(SEED)``) itself and ships them
to the probes (``course.probes.seq_classification``), which train the notebook's own LSTM with
the student's code and send back raw data: curves, final weights, the weights before the first step,
recorded norms. The judging happens here: the final test accuracy is the grader's own evaluation of
the returned weights, the spike criterion is ``course.reference.spikes`` applied to the returned
curves (which must agree with the run that was observed), and the recorded norms of the extra credit
are compared with a run the grader repeats in this process.
"""

import functools
import math
from dataclasses import dataclass, field

import torch

from course.data.temporal_order import N_TEST, SequenceData, held_out_set, training_set
from course.grade.answers import as_curve, as_number
from course.grade.checker import Case, Checker, once, part
from course.grade.subject import Subject
from course.probes.common import torch_threads
from course.probes.seq_classification import FitRun, NormRecorder, grader_procedure
from course.reference.seq_models import SimpleLSTM, build_lstm
from course.reference.seq_training import (
    EPOCHS,
    INITIAL_ACCURACY,
    INITIAL_ACCURACY_TOLERANCE,
    INITIAL_LOSS,
    INITIAL_LOSS_TOLERANCE,
    PASSING_ACCURACY,
    SEED,
    evaluate,
)
from course.reference.spikes import CURVE_MIN_RISES, SPIKE_WINDOW, find_spikes, rises

# What this grader imports only as it runs: torch's optimisers import torch._dynamo as they are built (1.2 s),
# and the extra credit's reference run builds one. A warm grading process (course.tools.warm_nbgrader) imports
# them once, before the first grading of this notebook, instead of every grading importing them anew.
IMPORTED_WHEN_RUN = ("torch._dynamo",)
# A run whose final accuracy stays below twice chance has not learned: its flat curve has no spikes
# to remove, so "no spikes" earns nothing there (a learning rate of 1e-7 would otherwise pass).
LEARNING_BAR = 0.5
# The last test_acc that fit returns must be the accuracy of its final weights: 0.01 is 5 of the 512
# held-out sequences, room for an evaluation in batches or on another device; a made-up curve is
# further off than that.
FINAL_ACCURACY_TOLERANCE = 0.01
# Likewise for the last test_loss (nats): a mean over unequal batches differs by ~1e-3.
FINAL_LOSS_ATOL, FINAL_LOSS_RTOL = 0.01, 0.01
EC_EPOCHS = 2  # extra credit: 64 steps of 32 sequences, enough to compare every recorded value
# Recorded norms against the grader's: the same run gives the same floats; 1e-4 leaves room for a
# norm computed another way (float64, torch.linalg.vector_norm, a sum of squares).
NORM_RTOL, NORM_ATOL = 1e-4, 1e-7

FIT_HINT = ("Start from fit_original and change how it trains (learning rate, clipping the gradient norm, a "
            "schedule, the batch size, the optimiser), never the model, its initial weights or the seed. In the "
            "notebook, count_spikes(history) and history['test_acc'][-1] are what the grader checks: it runs your "
            "fit on the same data from the same seed, so it sees the same run you see.")
NORMS_HINT = ("Read each parameter's gradient norm as soon as backward has produced it, before any clipping "
              "(param.register_post_accumulate_grad_hook), and its weight norm after the optimiser's step "
              "(torch.optim.optimizer.register_optimizer_step_post_hook); append one float per step under every "
              "name of model.named_parameters(), return fit_function's history with 'grad_norm' and "
              "'weight_norm' added, and remove the hooks before returning.")


@functools.cache
def _notebook_data() -> tuple[SequenceData, SequenceData]:
    """The notebook's training and held-out sets, built once per grading process (nothing here modifies
    them; what a probe gets crosses the codec as a copy)."""
    return training_set(SEED), held_out_set()


@functools.cache
def _shipped_run() -> dict:
    """The data and the initial weights of the notebook's run, as the grader builds them (once per grading
    process: the fit run and both extra-credit runs start from them; a probe gets a copy through the codec)."""
    (train_x, train_y), (test_x, test_y) = _notebook_data()
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y,
            "initial": build_lstm(SEED).state_dict(), "seed": SEED}


# ---------------------------------------------------------------------------------------------
# The values expected before training

@part("seq_classification.initial_values", "INITIAL_LOSS and INITIAL_ACCURACY", 2,
      hint="Before training the logits are nearly equal: what probability does the softmax give each of the 4 "
           "classes, what cross-entropy follows, and how often is a guess right when the classes are balanced? "
           "Give the accuracy as a fraction in [0, 1], not a percentage.")
def grade_initial_values(subject: Subject, checker: Checker) -> None:
    """INITIAL_LOSS and INITIAL_ACCURACY (any number form), each within its tolerance of the value
    expected before training; half each."""
    given = once(lambda: subject.values("INITIAL_LOSS", "INITIAL_ACCURACY"))
    for name, expected, tolerance in (("INITIAL_LOSS", INITIAL_LOSS, INITIAL_LOSS_TOLERANCE),
                                      ("INITIAL_ACCURACY", INITIAL_ACCURACY, INITIAL_ACCURACY_TOLERANCE)):
        def run(case: Case, name=name, expected=expected, tolerance=tolerance):
            raw = given()[name]
            value = as_number(raw)
            if not case.expect(value is not None, f"{name} is {raw!r}, expected a number"):
                return
            error = abs(value - expected)
            if case.expect(error <= tolerance, f"{name} = {value:.4g} is {error:.3g} away from the value expected "
                                               f"before training (tolerance {tolerance:g})"):
                case.evidence.append(f"{name} = {value:.4g}, within {tolerance:g} of the expected value")
        checker.add(f"{name}: the value expected before training, within {tolerance:g}", run)


# ---------------------------------------------------------------------------------------------
# fit: a training procedure whose curves do not spike

@dataclass
class FitVerdict:
    """What the grader concludes from one run of the student's ``fit``."""

    start_problems: list[str] = field(default_factory=list)  # model, initial weights, seed, steps
    curve_problems: list[str] = field(default_factory=list)  # the returned curves against the run
    steps: int = 0
    accuracy: float | None = None  # the grader's evaluation of the final weights on the held-out set
    loss: float | None = None
    curves: dict[str, list[float]] = field(default_factory=dict)
    returned_accuracy: float | None = None


def _judge_start(outcome: FitRun, verdict: FitVerdict) -> SimpleLSTM | None:
    """Check that fit trained the given LSTM from the given weights and seed; the final model, if it loads."""
    reference = build_lstm(SEED)
    initial = reference.state_dict()
    state = outcome.state
    shapes = {name: tuple(value.shape) for name, value in state.items() if isinstance(value, torch.Tensor)}
    expected_shapes = {name: tuple(value.shape) for name, value in initial.items()}
    if shapes != expected_shapes:
        verdict.start_problems.append(f"the model's parameters after fit are {shapes}, expected the given "
                                      f"SimpleLSTM's {expected_shapes}: fit must not change the model")
        return None
    final = SimpleLSTM()
    final.load_state_dict({name: value.float() for name, value in state.items()})
    verdict.steps = int(outcome.steps)
    first = outcome.first_step_weights
    if verdict.steps == 0 or first is None:
        verdict.start_problems.append("no optimisation step was taken on the parameters of the model passed to "
                                      "fit (did fit build a new model or new layers?)")
    else:
        differences = {name: float((first[name].double() - initial[name].double()).abs().max()) for name in initial}
        worst = max(differences, key=differences.get)
        if differences[worst] != 0.0:
            verdict.start_problems.append(
                f"the weights before the first optimisation step are not the given initial weights (largest "
                f"difference {differences[worst]:.3g} in {worst}): fit must not re-initialise the model")
    if int(outcome.torch_seed) != SEED:
        verdict.start_problems.append(f"fit re-seeded torch's random number generator (with {outcome.torch_seed}); "
                                      f"the seed is fixed at SEED = {SEED}")
    return final


def _judge_curves(outcome: FitRun, verdict: FitVerdict, epochs: int) -> None:
    """Check that the returned history is the run's: one train loss per step, one test value per epoch,
    and the last test values those of the final weights."""
    history = outcome.history
    if not isinstance(history, dict):
        verdict.curve_problems.append(f"fit returned a {type(history).__name__}, expected a dict with 'train_loss', "
                                      "'test_loss' and 'test_acc'")
        return
    for key in ("train_loss", "test_loss", "test_acc"):
        curve = as_curve(history.get(key))
        if curve is None:
            verdict.curve_problems.append(f"history['{key}'] is missing or not a list of numbers")
        else:
            verdict.curves[key] = curve
    if verdict.curve_problems:
        return
    train_loss, test_loss, test_acc = verdict.curves["train_loss"], verdict.curves["test_loss"], verdict.curves["test_acc"]
    if len(train_loss) != verdict.steps:
        verdict.curve_problems.append(f"train_loss has {len(train_loss)} values, but fit took {verdict.steps} "
                                      "optimisation steps (one value per step)")
    for key, curve in (("test_loss", test_loss), ("test_acc", test_acc)):
        if len(curve) != epochs:
            verdict.curve_problems.append(f"{key} has {len(curve)} values for {epochs} epochs (one value per epoch)")
    if verdict.curve_problems:
        return
    if not all(0.0 <= value <= 1.0 for value in test_acc):
        verdict.curve_problems.append("test_acc holds values outside [0, 1] (give accuracies as fractions)")
        return
    verdict.returned_accuracy = test_acc[-1]
    if abs(test_acc[-1] - verdict.accuracy) > FINAL_ACCURACY_TOLERANCE:
        verdict.curve_problems.append(
            f"the last test_acc, {test_acc[-1]:.4f}, is not the accuracy of the final weights on the held-out set, "
            f"{verdict.accuracy:.4f} as the grader measures it (tolerance {FINAL_ACCURACY_TOLERANCE:g})")
    allowed = FINAL_LOSS_ATOL + FINAL_LOSS_RTOL * verdict.loss
    if not abs(test_loss[-1] - verdict.loss) <= allowed:
        verdict.curve_problems.append(
            f"the last test_loss, {test_loss[-1]:.4f}, is not the mean cross-entropy of the final weights on the "
            f"held-out set, {verdict.loss:.4f} as the grader measures it (tolerance {allowed:.3g})")


def judge_fit(outcome: FitRun, epochs: int = EPOCHS) -> FitVerdict:
    """The grader's conclusions from the raw data of one ``fit`` run (see ``seq_fit_run``)."""
    verdict = FitVerdict()
    final = _judge_start(outcome, verdict)
    if final is None:
        return verdict
    verdict.loss, verdict.accuracy = evaluate(final, _notebook_data()[1])
    _judge_curves(outcome, verdict, epochs)
    return verdict


def describe_spikes(curve: str, values: list[float], min_rise: float) -> str:
    """Where ``curve`` spikes, how far, and the threshold ('' when it does not spike)."""
    spikes = find_spikes(values, min_rise)
    if not spikes:
        return ""
    rise = rises(values)
    finite = [float(rise[i]) for i in spikes if math.isfinite(rise[i])]
    largest = f"largest rise {max(finite):.2f} nats" if finite else "the curve diverged (NaN or infinity)"
    where = ", ".join(f"{curve}[{i}]" for i in spikes[:6]) + (", ..." if len(spikes) > 6 else "")
    return (f"{curve} has {len(spikes)} spike(s), at {where}; {largest} above the median of the {SPIKE_WINDOW} "
            f"values before (threshold {min_rise:g})")


def spike_problems(found: FitVerdict) -> list[str]:
    """Why a run does not count as spike-free: fit did not train as given, its curves are not the run's,
    it did not learn (a flat curve has no spikes to remove), or a curve spikes. Empty when it counts."""
    if found.start_problems:
        return ["not judged: " + "; ".join(found.start_problems)]
    if found.curve_problems:
        return ["not judged: the returned curves do not describe the run (" + "; ".join(found.curve_problems) + ")"]
    if found.accuracy < LEARNING_BAR:
        return [f"not judged: the run did not learn (final test accuracy {found.accuracy:.1%}, below {LEARNING_BAR:.0%}), "
                "and a curve that stays flat has no spikes to remove"]
    return [problem for problem in (describe_spikes(curve, found.curves[curve], min_rise)
                                    for curve, min_rise in CURVE_MIN_RISES.items()) if problem]


@part("seq_classification.fit", "fit: training without spikes to 95% test accuracy", 5, hint=FIT_HINT, kind="procedure")
def grade_fit(subject: Subject, checker: Checker) -> None:
    """The grader trains build_lstm(SEED) with the student's fit for EPOCHS epochs on its own copy
    of the data and judges the raw run: it must train the given model from its initial weights
    without re-seeding, and return curves that describe the run (both required, no points of their
    own); then 2.5 points for no spikes on a run that learns (at least LEARNING_BAR), and 2.5 more
    when that spike-free run also reaches PASSING_ACCURACY (the grader's own evaluation of the final
    weights). A run that spikes earns nothing, however accurate: the unchanged original procedure
    scores 0."""
    verdict = once(lambda: judge_fit(subject.probe("fit_run", epochs=EPOCHS, **_shipped_run())))

    def start(case: Case):
        found = verdict()
        for problem in found.start_problems:
            case.fail(problem)
        if case.passed:
            case.evidence.append(f"{found.steps} optimisation steps from the given initial weights, seed {SEED}")

    def curves(case: Case):
        found = verdict()
        if not case.expect(not found.start_problems, "not judged: fit did not train the given model as given"):
            return
        for problem in found.curve_problems:
            case.fail(problem)
        if case.passed:
            case.evidence.append(f"{len(found.curves['train_loss'])} train losses for {found.steps} steps, "
                                 f"{EPOCHS} test values; last test_acc {found.returned_accuracy:.4f} "
                                 f"(grader: {found.accuracy:.4f})")

    def no_spikes(case: Case):
        for problem in spike_problems(verdict()):
            case.fail(problem)
        if case.passed:
            found = verdict()
            case.evidence.append(", ".join(
                f"{curve}: largest rise {float(rises(found.curves[curve]).max()):.2f} nats (threshold {min_rise:g})"
                for curve, min_rise in CURVE_MIN_RISES.items()))

    def accuracy(case: Case):
        found = verdict()
        if not case.expect(not spike_problems(found), "not awarded: accuracy earns points only on a run without "
                                                      "spikes that describes itself (see the checks above)"):
            return
        case.expect(found.accuracy >= PASSING_ACCURACY,
                    f"final test accuracy {found.accuracy:.1%} (the grader's evaluation of the final weights on the "
                    f"{N_TEST} held-out sequences), below {PASSING_ACCURACY:.0%}")
        case.evidence.append(f"final test accuracy {found.accuracy:.1%} on the {N_TEST} held-out sequences")

    checker.add(f"fit trains the given LSTM from its given initial weights and seed ({EPOCHS} epochs)", start, 0.0)
    checker.add("the returned curves describe the run (one train_loss per step, test values per epoch, the last "
                "ones those of the final weights)", curves, 0.0)
    checker.add(f"no spikes on a run that learns: no train_loss more than {CURVE_MIN_RISES['train_loss']:g} nat and no "
                f"test_loss more than {CURVE_MIN_RISES['test_loss']:g} nat above the median of the {SPIKE_WINDOW} values "
                f"before it, and a final test accuracy of at least {LEARNING_BAR:.0%}", no_spikes, 2.5)
    checker.add(f"and, without spikes, a final test accuracy of at least {PASSING_ACCURACY:.0%}, measured by the grader "
                "on the returned weights", accuracy, 2.5)


# ---------------------------------------------------------------------------------------------
# Extra credit: record_norms

def _grader_procedure_run():
    """The grader's clipped procedure, run here from the notebook's start: history and recorded norms."""
    train_data, test_data = _notebook_data()
    model = build_lstm(SEED)  # built last, as setup_run does: the procedure shuffles with the generator it leaves
    with torch_threads(1), NormRecorder(model) as recorder:  # one thread, as the probe runs it: the same floats
        history = grader_procedure(model, train_data, test_data, EC_EPOCHS)
    return history, recorder


def compare_norms(case: Case, result, expected_grad: dict, expected_weight: dict, steps: int) -> None:
    """The student's ``grad_norm``/``weight_norm`` against the expected ones, parameter by parameter and
    step by step, within ``NORM_ATOL + NORM_RTOL * |expected|``; the first wrong value is reported."""
    if not case.expect(isinstance(result, dict), f"record_norms returned a {type(result).__name__}, expected a dict"):
        return
    worst = 0.0
    for key, expected in (("grad_norm", expected_grad), ("weight_norm", expected_weight)):
        recorded = result.get(key)
        if not case.expect(isinstance(recorded, dict), f"the result has no dict under '{key}'"):
            continue
        if not case.expect(set(recorded) == set(expected), f"{key} has the keys {sorted(map(str, recorded))}, expected "
                                                           f"the parameter names {sorted(expected)}"):
            continue
        for name, values in expected.items():
            got = as_curve(recorded[name])
            if not case.expect(got is not None, f"{key}['{name}'] is not a list of numbers"):
                break
            if not case.expect(len(got) == steps, f"{key}['{name}'] has {len(got)} values for {steps} optimisation "
                                                  "steps (one per step)"):
                break
            got64, want64 = torch.tensor(got, dtype=torch.float64), torch.as_tensor(values, dtype=torch.float64)
            error = (got64 - want64).abs()
            wrong = ~(error <= NORM_ATOL + NORM_RTOL * want64.abs())  # NaN counts as wrong
            if bool(wrong.any()):
                step = int(torch.nonzero(wrong)[0])
                case.fail(f"{key}['{name}'][{step}] is {got[step]:.6g}, expected {float(want64[step]):.6g} "
                          f"(tolerance {NORM_ATOL:g} + {NORM_RTOL:g}*|expected|)")
                break
            worst = max(worst, float((error / want64.abs().clamp_min(NORM_ATOL)).max()) if error.numel() else 0.0)
    if case.passed:
        case.evidence.append(f"{2 * len(expected_grad)} curves of {steps} steps, largest relative error {worst:.2g}")


@part("seq_classification.record_norms", "Extra credit: record_norms", 3, hint=NORMS_HINT, kind="procedure")
def grade_record_norms(subject: Subject, checker: Checker) -> None:
    """The student's record_norms on the grader's clipped procedure (2 of 3: every norm against the
    grader's own recording of the same run, and the procedure's history returned) and on the
    student's fit (1: against the probe's hooks in the same run)."""
    def on_grader_procedure(case: Case):
        history, recorder = _grader_procedure_run()
        outcome = subject.probe("record_norms_run", epochs=EC_EPOCHS, procedure="grader", **_shipped_run())
        result = outcome.result
        compare_norms(case, result, recorder.grad_norm, recorder.weight_norm, recorder.steps)
        if isinstance(result, dict):
            returned = as_curve(result.get("train_loss"))
            if case.expect(returned is not None and len(returned) == len(history["train_loss"]),
                           "the result does not hold fit_function's history (its 'train_loss', one per step)"):
                case.expect_tensor("the returned train_loss", torch.tensor(returned, dtype=torch.float64),
                                   torch.tensor(history["train_loss"], dtype=torch.float64),
                                   rtol=NORM_RTOL, atol=NORM_ATOL)

    def on_student_fit(case: Case):
        outcome = subject.probe("record_norms_run", epochs=EC_EPOCHS, procedure="fit", **_shipped_run())
        if not case.expect(outcome.steps > 0, "your fit took no optimisation step on the model it was given, "
                                                 "so there is nothing to compare"):
            return
        compare_norms(case, outcome.result, outcome.grad_norm, outcome.weight_norm, outcome.steps)

    checker.add(f"record_norms on the grader's RMSprop procedure with gradient clipping ({EC_EPOCHS} epochs): gradient "
                "norms before clipping and weight norms after every step, against the grader's own run",
                on_grader_procedure, 2.0)
    checker.add(f"record_norms on your fit ({EC_EPOCHS} epochs), against the grader's hooks in the same run",
                on_student_fit, 1.0)
