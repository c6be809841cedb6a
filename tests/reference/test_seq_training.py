"""The given sequence models, the expected values before training, and the norm recorder."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course.data.temporal_order import CLASSES, SYMBOLS
from course.probes.seq_classification import NormRecorder
from course.reference.seq_models import SimpleLSTM, SimpleRNN, build_lstm, build_rnn
from course.reference.seq_training import (
    INITIAL_ACCURACY,
    INITIAL_ACCURACY_TOLERANCE,
    INITIAL_LOSS,
    INITIAL_LOSS_TOLERANCE,
    evaluate,
    fit_clipped,
    setup_run,
)


@pytest.mark.parametrize("build", [build_rnn, build_lstm])
def test_do_the_models_return_the_last_steps_logits(build):
    model = build(0)
    x = torch.randn(5, 17, len(SYMBOLS))  # (B, T, 8)
    recurrent, read_out = model.children()
    hidden, _ = recurrent(x)  # (B, T, H)
    assert torch.equal(model(x), read_out(hidden[:, -1]))
    assert model(x).shape == (5, len(CLASSES))


def test_is_the_lstm_the_one_of_visualize_lstm():
    model = build_lstm(0)
    assert isinstance(model, SimpleLSTM) and isinstance(build_rnn(0), SimpleRNN)
    assert (model.lstm.input_size, model.lstm.hidden_size, model.linear.out_features) == (8, 12, 4)


def test_does_the_same_seed_build_the_same_weights():
    first, again, other = build_lstm(3).state_dict(), build_lstm(3).state_dict(), build_lstm(4).state_dict()
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not torch.equal(first["lstm.weight_hh_l0"], other["lstm.weight_hh_l0"])


@pytest.mark.parametrize("seed", range(5))
def test_does_a_fresh_lstm_measure_the_expected_values_before_training(seed):
    model, _, test_data = setup_run(seed)
    loss, accuracy = evaluate(model, test_data)
    assert abs(loss - INITIAL_LOSS) <= INITIAL_LOSS_TOLERANCE, loss
    assert abs(accuracy - INITIAL_ACCURACY) <= INITIAL_ACCURACY_TOLERANCE, accuracy
    assert INITIAL_LOSS == pytest.approx(math.log(4)) and INITIAL_ACCURACY == 0.25


def manual_training(model, x, y, steps, clip_norm):
    """A loop that records the norms itself: gradients before clipping, weights after the step."""
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-2)
    grad_norm = {name: [] for name, _ in model.named_parameters()}
    weight_norm = {name: [] for name, _ in model.named_parameters()}
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        for name, param in model.named_parameters():
            grad_norm[name].append(param.grad.norm().item())
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        for name, param in model.named_parameters():
            weight_norm[name].append(param.detach().norm().item())
    return grad_norm, weight_norm


def test_does_the_recorder_see_what_the_loop_records_itself():
    model = build_lstm(0)
    x, y = torch.randn(8, 6, len(SYMBOLS)), torch.arange(8) % len(CLASSES)
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}
    with NormRecorder(model) as recorder:
        grad_norm, weight_norm = manual_training(model, x, y, steps=4, clip_norm=1e-3)  # clips every step
    assert recorder.grad_norm == grad_norm and recorder.weight_norm == weight_norm
    assert all(len(values) == 4 for values in recorder.grad_norm.values())
    assert all(torch.equal(recorder.first_step_weights[name], initial[name]) for name in initial)


def test_does_the_recorder_ignore_other_optimisers_and_stop_on_exit():
    model, other = build_lstm(0), nn.Linear(2, 1)
    optimizer = torch.optim.SGD(other.parameters(), lr=0.1)
    with NormRecorder(model) as recorder:
        other(torch.ones(1, 2)).sum().backward()
        optimizer.step()
    assert recorder.first_step_weights is None and all(v == [] for v in recorder.weight_norm.values())
    manual_training(model, torch.randn(2, 3, len(SYMBOLS)), torch.tensor([0, 1]), steps=1, clip_norm=1.0)
    assert all(v == [] for v in recorder.grad_norm.values())


def test_does_the_recorder_count_one_value_per_step_of_a_real_fit():
    model, train_data, test_data = setup_run()
    with NormRecorder(model) as recorder:
        history = fit_clipped(model, train_data, test_data, epochs=1)
    assert {len(v) for v in recorder.grad_norm.values()} == {len(history["train_loss"])}
    assert not any(math.isnan(v) for values in recorder.grad_norm.values() for v in values)
