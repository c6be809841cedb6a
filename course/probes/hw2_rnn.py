"""Probes of hw2_rnn.ipynb: run the student's GatedRNN with given weights and ask the echo models for
their answers (the hand-written backward pass is called by :func:`.common.backward_by_hand`)."""

import torch

from .codec import record
from .common import build_with_weights
from .runtime import lookup, probe


@record
class GatedRunFacts:
    """A fresh ``GatedRNN(n, m)``: whether it is an ``nn.Module``, its parameter shapes by name, its
    output with the grader's weights (None when they could not be loaded) and whether ``forward``
    modified its input."""

    is_module: bool
    parameters: dict
    output: object
    mutated: bool


@probe
def gated_rnn_run(namespace, input_size, hidden_size, weights, x) -> GatedRunFacts:
    """Build ``GatedRNN(input_size, hidden_size)``, report its parameters, and, when every weight of
    ``weights`` (name -> tensor) has a parameter of that name and shape, load them (in ``x``'s dtype)
    and run ``forward`` on a copy of ``x``."""
    torch.manual_seed(0)
    model = lookup(namespace, "GatedRNN")(input_size, hidden_size)
    if not isinstance(model, torch.nn.Module):
        return GatedRunFacts(False, {}, None, False)
    named = dict(model.named_parameters())
    shapes = {name: list(p.shape) for name, p in named.items()}
    if not weights or not all(name in named and tuple(named[name].shape) == tuple(w.shape) for name, w in weights.items()):
        return GatedRunFacts(True, shapes, None, False)
    model = model.to(x.dtype)
    named = dict(model.named_parameters())
    with torch.no_grad():
        for name, weight in weights.items():
            named[name].copy_(weight)
    given = x.clone()
    output = model(given)
    return GatedRunFacts(True, shapes, output, not torch.equal(given, x))


@record
class EchoContract:
    """A fresh echo model: its logits on the grader's one-hot input, its ``test_run`` answers, its
    ``max_delay`` attribute (None without one) and its parameter count."""

    logits: object
    answers: list
    max_delay: object
    parameters: int


@probe
def echo_contract(namespace, class_name, args, x, delays, strings, string_delays) -> EchoContract:
    """Build a fresh ``class_name(*args)`` in eval mode; return its logits on ``x`` (with ``delays``
    when given), its ``test_run`` answers for ``strings`` (with ``string_delays`` when given), its
    ``max_delay`` attribute and its parameter count."""
    torch.manual_seed(0)
    model = lookup(namespace, class_name)(*args)
    model.eval()
    with torch.no_grad():
        logits = model(x.clone()) if delays is None else model(x.clone(), delays.clone())
    answers = test_runs(model, strings, string_delays)
    return EchoContract(logits, answers, getattr(model, "max_delay", None),
                        sum(p.numel() for p in model.parameters()))


def test_runs(model, strings, delays=None) -> list:
    """The model's ``test_run`` answer for every string (with its delay when ``delays`` is given), without
    a graph."""
    with torch.no_grad():
        if delays is None:
            return [model.test_run(s) for s in strings]
        return [model.test_run(s, int(d)) for s, d in zip(strings, delays)]


@record
class EchoAnswers:
    """The trained echo model's type name and its ``test_run`` answer for every string."""

    type: str
    answers: list


@record
class SubmittedEcho:
    """A trained echo model rebuilt from the student's class with the submitted weights: its
    ``test_run`` answers for the grader's strings (empty when the weights did not fit), the constructor
    arguments that fit, or why no arguments did."""

    type: str
    kwargs: dict
    answers: list
    problem: str


@probe
def echo_with_weights(namespace, class_name, recorded, state, strings, delays=None) -> SubmittedEcho:
    """Rebuild ``class_name`` with the submitted ``state`` (see ``build_with_weights``) and ask its
    ``test_run`` for every string (with its delay when ``delays`` is given)."""
    model, kwargs, problem = build_with_weights(namespace, class_name, recorded, state)
    if model is None:
        return SubmittedEcho(class_name, {}, [], problem)
    return SubmittedEcho(type(model).__name__, kwargs, test_runs(model, strings, delays), "")


@probe
def train_echo(namespace, class_name, args, indices, delays, lr, strings, string_delays) -> EchoAnswers:
    """Train a fresh ``class_name(*args)`` on the grader's batches and return its answers for ``strings``.

    ``indices`` (S, B, L) int64 are S training batches of symbol indices (1..26) and ``delays`` (S, B)
    their delays; the target is the input delayed, blank (0) in front. ``string_delays`` None means the
    fixed-delay model, whose ``forward`` and ``test_run`` take no delay. Adam at ``lr`` with the gradient
    norm clipped at 1, one step per batch.
    """
    torch.manual_seed(0)
    model = lookup(namespace, class_name)(*args)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for batch, delay in zip(indices, delays):  # (B, L), (B,)
        x = torch.nn.functional.one_hot(batch, 27).float()  # (B, L, 27)
        logits = model(x) if string_delays is None else model(x, delay)  # (B, L, 27)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), _delayed(batch, delay).reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    model.eval()
    return EchoAnswers(type(model).__name__, test_runs(model, strings, string_delays))


def _delayed(indices, delays):
    """(B, L) indices shifted right by ``delays`` (B,) steps, blank (0) in front."""
    source = torch.arange(indices.shape[1]) - delays[:, None]  # (B, L)
    return torch.where(source >= 0, indices.gather(1, source.clamp(min=0)), 0)
