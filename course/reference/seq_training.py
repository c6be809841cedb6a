"""Training procedures of seq_classification.ipynb: the original one, whose curves spike, and fixes.

Every procedure has the notebook's contract ``fit(model, train_data, test_data, epochs) -> dict``:

- ``train_data``, ``test_data``: ``(x, y)`` pairs as ``course.data.temporal_order.SequenceData``,
  x (N, L, 8) one-hot, y (N,) int64;
- the result has ``train_loss`` (one mean cross-entropy per optimisation step, on that step's
  minibatch, before the step), ``test_loss`` and ``test_acc`` (one per epoch, on the whole test set
  after the epoch; accuracy in [0, 1]).

Minibatches are reshuffled every epoch with torch's global generator, so a run is reproducible when
the model is built with ``course.reference.seq_models.build_lstm(seed)`` just before (``setup_run``).
"""

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from course.data.temporal_order import CLASSES, SequenceData, held_out_set, training_set
from course.reference.seq_models import build_lstm

# The notebook's fixed seed: training set, initial weights, minibatch order. Whether a procedure reaches
# 95 % in EPOCHS without a spike depends on the seed as much as on the procedure (bench/calibrate_spikes.txt:
# on other seeds the lower rates often stall below 95 %, and Adam at 5e-4 spikes on some). At seed 60 the
# original spikes hard (test loss up to 4.5, far above the 1.40 before training) and every fix of FIXES passes.
# Runs are the same on every machine only with the CPU kernels capped as in course.same_numbers.
SEED = 60
EPOCHS = 100  # section "Visualize LSTM"
PASSING_ACCURACY = 0.95  # the assignment's target for the final test accuracy after EPOCHS
BATCH_SIZE = 32  # section "Visualize LSTM"
ORIGINAL_LR = 1e-3  # section "Visualize LSTM", RMSprop

# Before training the logits are all close to 0, so the softmax gives each of the 4 classes about
# 1/4: the cross-entropy is -ln(1/4) = ln 4, and the argmax picks (nearly) the same class for every
# sequence, right for the quarter of the balanced test set that belongs to it.
INITIAL_LOSS = math.log(len(CLASSES))  # 1.386; the fresh LSTM (SEED) measures 1.396
INITIAL_ACCURACY = 1 / len(CLASSES)  # 0.25; the fresh LSTM (SEED) measures 0.238
# Grading tolerances: the fresh LSTMs of seeds 0-9 measure 1.385-1.431 (nearly-zero logits are not
# exactly zero); the test set's class shares are 0.232-0.268, the accuracies of a constant guess.
INITIAL_LOSS_TOLERANCE = 0.05
INITIAL_ACCURACY_TOLERANCE = 0.03

History = dict[str, list[float]]
FitFunction = Callable[[nn.Module, SequenceData, SequenceData, int], History]


class Run(NamedTuple):
    """What a training run starts from: the freshly built model and the two data sets."""

    model: nn.Module
    train_data: SequenceData
    test_data: SequenceData


def setup_run(seed: int = SEED) -> Run:
    """The data and the initial LSTM of the notebook, as the grader builds them.

    The model is built last, so that torch's global generator, which ``fit`` shuffles with, is in
    the state ``build_lstm(seed)`` leaves it in.
    """
    train_data, test_data = training_set(seed), held_out_set()
    return Run(build_lstm(seed), train_data, test_data)


@torch.no_grad()
def evaluate(model: nn.Module, data: SequenceData) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on the whole of ``data``, in one batch."""
    x, y = data
    logits = model(x)  # (N, 4)
    loss = F.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(dim=1) == y).float().mean().item()
    return loss, accuracy


def train(
    model: nn.Module,
    train_data: SequenceData,
    test_data: SequenceData,
    epochs: int,
    optimizer: torch.optim.Optimizer,
    clip_norm: float | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    batch_size: int = BATCH_SIZE,
) -> History:
    """Minibatch training with cross-entropy; the loop every procedure of this module shares.

    Args:
        optimizer: built on ``model.parameters()``.
        clip_norm: if given, the gradient is rescaled to at most this total 2-norm before each step.
        scheduler: if given, stepped once at the end of every epoch.
        batch_size: sequences per optimisation step; the last batch of an epoch may be smaller.
    """
    x, y = train_data
    history: History = {"train_loss": [], "test_loss": [], "test_acc": []}
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(y)).split(batch_size):
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            if clip_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            optimizer.step()
            history["train_loss"].append(loss.item())
        if scheduler is not None:
            scheduler.step()
        model.eval()
        test_loss, test_acc = evaluate(model, test_data)
        history["test_loss"].append(test_loss)
        history["test_acc"].append(test_acc)
    return history


def fit_original(model: nn.Module, train_data: SequenceData, test_data: SequenceData, epochs: int) -> History:
    """The procedure of section "Visualize LSTM": RMSprop at 1e-3, batch size 32. Its curves spike."""
    optimizer = torch.optim.RMSprop(model.parameters(), lr=ORIGINAL_LR)
    return train(model, train_data, test_data, epochs, optimizer)


def fit_clipped(model: nn.Module, train_data: SequenceData, test_data: SequenceData, epochs: int) -> History:
    """Fix: a lower rate, 3e-4, and the gradient's total norm clipped to 1 before every step.

    A clip of 1 is about the median gradient norm at SEED (1.5 in the original run, 1.1 in this
    one): typical steps pass almost unchanged, the large ones (the top tenth above 7, the largest
    in the hundreds) are cut down to the typical size.
    """
    optimizer = torch.optim.RMSprop(model.parameters(), lr=3e-4)
    return train(model, train_data, test_data, epochs, optimizer, clip_norm=1.0)


def fit_scheduled(model: nn.Module, train_data: SequenceData, test_data: SequenceData, epochs: int) -> History:
    """Fix: the original rate to leave the plateau quickly, decayed by 5 % per epoch (to 6e-6 by epoch 100)."""
    optimizer = torch.optim.RMSprop(model.parameters(), lr=ORIGINAL_LR)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.95)
    return train(model, train_data, test_data, epochs, optimizer, scheduler=scheduler)


def fit_large_batch(model: nn.Module, train_data: SequenceData, test_data: SequenceData, epochs: int) -> History:
    """Fix: Adam at 1e-3 on minibatches of 128, whose gradients are less noisy and steps fewer."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    return train(model, train_data, test_data, epochs, optimizer, batch_size=128)


def fit_adam(model: nn.Module, train_data: SequenceData, test_data: SequenceData, epochs: int) -> History:
    """Fix, one change: Adam at 5e-4, whose momentum and normalised steps damp a sudden large gradient."""
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
    return train(model, train_data, test_data, epochs, optimizer)


def fit_rmsprop_low_lr(model: nn.Module, train_data: SequenceData, test_data: SequenceData, epochs: int) -> History:
    """Fix, one change: RMSprop at 3e-4, so that a step driven by a rare large gradient stays small."""
    optimizer = torch.optim.RMSprop(model.parameters(), lr=3e-4)
    return train(model, train_data, test_data, epochs, optimizer)


# Honest fixes: each passes the spike criterion and reaches 95 % test accuracy in EPOCHS at SEED.
FIXES: dict[str, FitFunction] = {
    "adam 5e-4": fit_adam,
    "rmsprop 3e-4": fit_rmsprop_low_lr,
    "rmsprop 3e-4 + clip 1": fit_clipped,
    "rmsprop 1e-3, x0.95/epoch": fit_scheduled,
    "adam 1e-3, batch 128": fit_large_batch,
}

