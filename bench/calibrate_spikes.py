"""Calibrate the spike criterion: run the original procedure and every fix on a few seeds.

The calibration holds when the original procedure fails on every seed and every fix passes at the
grader's seed, SEED; on other seeds a fix may stall below 95 % or spike, which the table shows.

For each run it prints the seconds taken (one CPU thread), the spikes found in the training and the
test loss, the largest rise of each curve over its recent level (what the thresholds of
``course.reference.spikes`` are set against), the largest test loss next to the loss before
training, the final test accuracy, and whether the run passes (no spike, accuracy >= 95 %).

    .venv/bin/python bench/calibrate_spikes.py [--seeds 60 0 1 2]
"""

import os

from course.same_numbers import SAME_NUMBERS_ENV

os.environ.update(SAME_NUMBERS_ENV)  # before torch is imported: train as the grader does

import argparse
import statistics
import time

import torch

from course.reference.seq_training import (
    EPOCHS,
    FIXES,
    PASSING_ACCURACY,
    SEED,
    FitFunction,
    evaluate,
    fit_original,
    setup_run,
)
from course.reference.spikes import SPIKE_WINDOW, count_spikes, rises

PROCEDURES: dict[str, tuple[bool, FitFunction]] = {  # name -> (should pass at SEED, fit)
    "original rmsprop 1e-3": (False, fit_original),
    **{name: (True, fit) for name, fit in FIXES.items()},
}


def calibration_row(name: str, fit: FitFunction, seed: int) -> tuple[str, float, bool]:
    """One training run from ``setup_run(seed)``: its printed row, its seconds and whether it passes."""
    model, train_data, test_data = setup_run(seed)
    loss_before, _ = evaluate(model, test_data)
    start = time.perf_counter()
    history = fit(model, train_data, test_data, EPOCHS)
    seconds = time.perf_counter() - start
    spikes = count_spikes(history)
    final_accuracy = history["test_acc"][-1]
    passes = not any(spikes.values()) and final_accuracy >= PASSING_ACCURACY
    row = (
        f"{name:26s} {seed:4d} {seconds:6.1f} {spikes['train_loss']:6d} {spikes['test_loss']:5d} "
        f"{rises(history['train_loss'], SPIKE_WINDOW).max():10.2f} {rises(history['test_loss'], SPIKE_WINDOW).max():9.2f} "
        f"{max(history['test_loss']):8.3f} {loss_before:7.3f} {final_accuracy:6.3f}  {'PASS' if passes else 'fail'}"
    )
    return row, seconds, passes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[SEED, 0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)  # the timing of one core, as the autograder's worker has

    print(
        f"{'procedure':26s} {'seed':>4s} {'sec':>6s} {'spk-tr':>6s} {'spk-te':>5s} "
        f"{'rise-train':>10s} {'rise-test':>9s} {'max-test':>8s} {'before':>7s} {'acc':>6s}  result"
    )
    unexpected = []
    for name, (should_pass, fit) in PROCEDURES.items():
        seconds = []
        for seed in args.seeds:
            row, run_seconds, passes = calibration_row(name, fit, seed)
            print(row, flush=True)
            seconds.append(run_seconds)
            if (passes and not should_pass) or (should_pass and seed == SEED and not passes):
                unexpected.append(f"{name} seed {seed}: expected to {'pass' if should_pass else 'fail'}")
        print(f"{'':26s} median {statistics.median(seconds):.1f} s over {len(seconds)} runs", flush=True)
    print("calibration holds" if not unexpected else "calibration broken: " + "; ".join(unexpected))


if __name__ == "__main__":
    main()
