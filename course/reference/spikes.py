"""The spike criterion of seq_classification.ipynb: when does a loss curve spike?

A *spike* is a value that jumps well above the recent level of its curve::

    spike at i  <=>  values[i] - median(values[i - window : i]) > min_rise    (or values[i] is not finite)

The median of the previous ``window`` values is the recent level: it ignores a few noisy
minibatches, and it follows a loss that is falling. ``min_rise`` is in nats, the unit of the
cross-entropy: a rise of 1 nat means that the (geometric) mean probability given to the true classes
fell by a factor e ≈ 2.7 from one value to the next. The first value has no recent level and is
never a spike; values 1 to ``window - 1`` are compared with the median of all values before them.

Applied to a training history (``fit``'s result), the per-step training loss and the per-epoch test
loss are checked with their own thresholds; the curves pass when neither has a single spike.

Calibration (``bench/calibrate_spikes.py``, one CPU thread, seeds 0, 1, 2): the original procedure's
largest rise of the training loss is 3.9-6.0 nats on every seed (17-35 spikes per run; 3.9 and 4.3
on seeds 3 and 4), while the fixes' largest rises are 0.2-0.9 nats on the training loss (single
noisy minibatches) and at most 0.2 nats on the test loss. The thresholds sit between the two.
"""

import math
from collections.abc import Sequence

import numpy as np

SPIKE_WINDOW = 10  # values in the recent level; its median ignores up to 4 outliers among them
TRAIN_MIN_RISE = 1.0  # nats; per-step loss of 32 sequences: fixes rise at most 0.9, the original 3.9+
TEST_MIN_RISE = 0.5  # nats; a mean over 512 sequences, ~4x smoother: fixes rise at most 0.2
CURVE_MIN_RISES = {"train_loss": TRAIN_MIN_RISE, "test_loss": TEST_MIN_RISE}


def rises(values: Sequence[float], window: int = SPIKE_WINDOW) -> np.ndarray:
    """How far each value of a curve lies above the median of the ``window`` values before it.

    Args:
        values: the curve, one loss per step or per epoch (a list, NumPy array or 1-D tensor).
        window: how many previous values make the recent level. Default: 10.

    Shape:
        values: (T,)  ->  output: (T,) float64, ``output[i] = values[i] - median(values[max(0, i - window):i])``
        for ``i >= 1`` and ``output[0] = 0``.
    """
    if window < 1:
        raise ValueError(f"window must be a positive number of values, got {window}")
    values = np.asarray(values, dtype=np.float64).reshape(-1)  # (T,)
    rise = np.zeros_like(values)  # (T,)
    for i in range(1, len(values)):
        rise[i] = values[i] - np.median(values[max(0, i - window) : i])
    return rise


def find_spikes(values: Sequence[float], min_rise: float, window: int = SPIKE_WINDOW) -> list[int]:
    """Indices of the spikes of one curve, in increasing order.

    Args:
        values: the curve, one loss per step or per epoch (a list, NumPy array or 1-D tensor).
        min_rise: how far above the median of the previous ``window`` values a spike lies (nats).
        window: how many previous values make the recent level. Default: 10.

    Returns:
        the indices ``i >= 1`` whose rise (``rises``) exceeds ``min_rise`` or is not finite: a
        curve that reaches NaN or infinity has diverged, which counts as a spike.
    """
    rise = rises(values, window)  # (T,)
    return [i for i in range(1, len(rise)) if not math.isfinite(rise[i]) or rise[i] > min_rise]


def count_spikes(history: dict[str, Sequence[float]]) -> dict[str, int]:
    """Spikes of the ``train_loss`` (per step) and ``test_loss`` (per epoch) curves of a history.

    Returns:
        ``{"train_loss": n_train, "test_loss": n_test}``.
    """
    return {
        curve: len(find_spikes(history[curve], min_rise)) for curve, min_rise in CURVE_MIN_RISES.items()
    }


def has_spikes(history: dict[str, Sequence[float]]) -> bool:
    """Whether either loss curve of ``history`` has at least one spike."""
    return any(count_spikes(history).values())
