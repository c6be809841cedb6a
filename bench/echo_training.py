"""How long the reference echo recipes take to reach the bar on one CPU thread, for three seeds.

For each model and seed: the steps and seconds until the validation accuracy first reached the
recipe's target accuracy (the graded bar is 0.99), and the accuracy on fresh test strings.
Wall seconds depend on what else the machine runs; CPU seconds of this single-threaded process are
what the run would take alone on one core. The load average is printed to tell the two apart.

Run: .venv/bin/python bench/echo_training.py
"""

import os

from course.same_numbers import SAME_NUMBERS_ENV

os.environ.update(SAME_NUMBERS_ENV)  # before torch is imported: train as the grader does

import time

import torch

from course.reference import echo

SEEDS = (0, 1, 2)
NUM_TEST_STRINGS = 2000  # about 34,000 scored characters: a standard error near 0.05 % at 99.5 %
TEST_SEED = 20_000  # no training seed, so the test strings are fresh for every run


def main() -> None:
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    runs = [
        ("GRUMemory", echo.FIXED_DELAY_RECIPE, echo.train_gru_memory, echo.fixed_delay_accuracy),
        (
            "VariableDelayGRUMemory",
            echo.VARIABLE_DELAY_RECIPE,
            echo.train_variable_delay_gru_memory,
            echo.variable_delay_accuracy,
        ),
    ]
    for name, recipe, train, accuracy_of in runs:
        print(f"\n{name}: {recipe}")
        print(f"{'seed':>4} {'steps':>6} {'wall s':>7} {'cpu s':>6} {'val acc':>8} {'test acc':>9}")
        for seed in SEEDS:
            cpu_start = time.process_time()
            model, log = train(seed)
            cpu_seconds = time.process_time() - cpu_start
            test_accuracy = accuracy_of(model, NUM_TEST_STRINGS, torch.Generator().manual_seed(TEST_SEED))
            print(
                f"{seed:>4} {log.steps:>6} {log.seconds:>7.1f} {cpu_seconds:>6.1f} "
                f"{log.accuracy:>8.4f} {test_accuracy:>9.4f}",
                flush=True,
            )
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
