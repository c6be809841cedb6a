"""Probes of seq_classification.ipynb: they train the notebook's LSTM with the student's code, beside it.

Each probe starts a run as the notebook does: it seeds Python, NumPy and torch with the notebook's
seed, builds the notebook's own ``SimpleLSTM`` (which draws its initial weights, leaving torch's
generator where the notebook leaves it) and loads the initial weights the grader shipped (strict).
It then trains with one torch thread, as the notebook does, so the grader's run is the student's run.
What comes back is raw data: curves, weights, recorded norms. The grader judges them.
"""

import math
import random

import numpy as np
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from .codec import record
from .common import torch_threads
from .runtime import lookup, probe


class NormRecorder:
    """Records each parameter's gradient norm and weight norm at every optimisation step of a model.

    It needs nothing from the training loop: it hooks the model's parameters and every optimiser,

    - a post-accumulate-grad hook on each parameter keeps the 2-norm of ``param.grad`` as backward
      leaves it, so before any clipping (with several backward passes per step, the last one counts);
    - a global optimiser step post-hook (``register_optimizer_step_post_hook``) appends, for every
      step of an optimiser that holds the model's parameters, that gradient norm and the 2-norm of
      the parameter after the step;
    - a global optimiser step pre-hook keeps a copy of the weights just before the first step, so
      a grader can check that training started from the model's initial weights.

    Use it as a context manager around the training run::

        with NormRecorder(model) as recorder:
            history = fit(model, train_data, test_data, epochs)
        recorder.grad_norm["lstm.weight_hh_l0"]  # one float per optimisation step

    Attributes:
        grad_norm: parameter name -> list of gradient norms, one per step (NaN if it had no gradient).
        weight_norm: parameter name -> list of weight norms after each step.
        first_step_weights: parameter name -> a copy of the weights before the first step, or None
            while no step was taken.
        steps: optimisation steps taken on the model's parameters.
    """

    def __init__(self, model):
        self.parameters = dict(model.named_parameters())
        self.grad_norm = {name: [] for name in self.parameters}
        self.weight_norm = {name: [] for name in self.parameters}
        self.first_step_weights = None
        self.steps = 0
        self._latest_grad_norm = {}
        self._handles = []

    def __enter__(self):
        for name, param in self.parameters.items():
            self._handles.append(param.register_post_accumulate_grad_hook(self._grad_hook(name)))
        self._handles.append(register_optimizer_step_pre_hook(self._before_step))
        self._handles.append(register_optimizer_step_post_hook(self._after_step))
        return self

    def __exit__(self, *exc_info):
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _grad_hook(self, name):
        def keep_grad_norm(param):
            self._latest_grad_norm[name] = param.grad.norm().item()

        return keep_grad_norm

    def _steps_this_model(self, optimizer):
        ours = {id(param) for param in self.parameters.values()}
        return any(id(param) in ours for group in optimizer.param_groups for param in group["params"])

    def _before_step(self, optimizer, args, kwargs):
        if self.first_step_weights is None and self._steps_this_model(optimizer):
            self.first_step_weights = {name: p.detach().clone() for name, p in self.parameters.items()}

    def _after_step(self, optimizer, args, kwargs):
        if not self._steps_this_model(optimizer):
            return
        self.steps += 1
        for name, param in self.parameters.items():
            self.grad_norm[name].append(self._latest_grad_norm.pop(name, math.nan))
            self.weight_norm[name].append(param.detach().norm().item())


def grader_procedure(model, train_data, test_data, epochs):
    """The grader's own training procedure for checking ``record_norms`` (extra credit).

    RMSprop at 1e-3 on minibatches of 32, the gradient clipped to a total norm of 0.05 before every
    step: the gradients of this LSTM are larger than that at nearly every step, so a recorder that
    reads them after clipping (instead of before) is caught. Minibatches are drawn with a generator
    of its own, so whatever else draws random numbers cannot change the run: the grader repeats the
    run in its own process and compares.
    """
    x, y = train_data
    test_x, test_y = test_data
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    order = torch.Generator().manual_seed(1)
    history = {"train_loss": [], "test_loss": [], "test_acc": []}
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(y), generator=order).split(32):
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.05)
            optimizer.step()
            history["train_loss"].append(loss.item())
        model.eval()
        with torch.no_grad():
            logits = model(test_x)
            history["test_loss"].append(torch.nn.functional.cross_entropy(logits, test_y).item())
            history["test_acc"].append((logits.argmax(dim=1) == test_y).float().mean().item())
    return history


def _fresh_model(namespace, initial, seed):
    """The notebook's ``SimpleLSTM``, built after seeding as ``build_lstm(seed)`` does, with the
    shipped ``initial`` weights loaded (strict: the architecture must be the given one)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    model = lookup(namespace, "SimpleLSTM")()
    model.load_state_dict(initial, strict=True)
    return model


def _data(namespace, x, y):
    """``(x, y)`` as the notebook's ``SequenceData`` (a named pair), on fresh copies."""
    kind = namespace.get("SequenceData")
    pair = (x.clone(), y.clone())
    return kind(*pair) if isinstance(kind, type) and issubclass(kind, tuple) else pair


def _norms(recorded):
    return {name: torch.tensor(values, dtype=torch.float64) for name, values in recorded.items()}


@record
class FitRun:
    """One run of the student's ``fit`` on a fresh notebook LSTM.

    Fields:
        history: what ``fit`` returned.
        state: the model's final ``state_dict``.
        first_step_weights: the weights just before the first optimisation step (None: no step).
        steps: optimisation steps taken on the model's parameters.
        grad_norm, weight_norm: per-parameter norms recorded by hooks, one per step.
        torch_seed: the seed torch's global generator was last seeded with (``fit`` must not re-seed).
    """

    history: object
    state: dict
    first_step_weights: object
    steps: int
    grad_norm: dict
    weight_norm: dict
    torch_seed: int


@probe
def fit_run(namespace, train_x, train_y, test_x, test_y, initial, seed, epochs) -> FitRun:
    """Call the student's ``fit(model, train_data, test_data, epochs)`` on a fresh notebook LSTM."""
    model = _fresh_model(namespace, initial, seed)
    fit = lookup(namespace, "fit")
    train_data, test_data = _data(namespace, train_x, train_y), _data(namespace, test_x, test_y)
    with torch_threads(1), NormRecorder(model) as recorder:
        history = fit(model, train_data, test_data, epochs)
    return FitRun(history, {name: value.detach().cpu().clone() for name, value in model.state_dict().items()},
                  recorder.first_step_weights, recorder.steps, _norms(recorder.grad_norm),
                  _norms(recorder.weight_norm), torch.initial_seed())


@record
class RecordNormsRun:
    """One run of the student's ``record_norms``: what it returned, and the norms this probe's own
    hooks recorded during the same run."""

    result: object
    steps: int
    grad_norm: dict
    weight_norm: dict


@probe
def record_norms_run(namespace, train_x, train_y, test_x, test_y, initial, seed, epochs, procedure) -> RecordNormsRun:
    """Call the student's ``record_norms(fit_function, model, train_data, test_data, epochs)``.

    ``procedure`` picks ``fit_function``: ``"grader"`` for :func:`grader_procedure`, ``"fit"`` for
    the student's own ``fit``.
    """
    model = _fresh_model(namespace, initial, seed)
    record_norms = lookup(namespace, "record_norms")
    fit_function = grader_procedure if procedure == "grader" else lookup(namespace, "fit")
    train_data, test_data = _data(namespace, train_x, train_y), _data(namespace, test_x, test_y)
    with torch_threads(1), NormRecorder(model) as recorder:
        result = record_norms(fit_function, model, train_data, test_data, epochs)
    return RecordNormsRun(result, recorder.steps, _norms(recorder.grad_norm), _norms(recorder.weight_norm))
