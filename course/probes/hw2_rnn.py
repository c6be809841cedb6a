"""Probes of hw2_rnn.ipynb: run the student's GatedRNN with given weights and ask the echo models for
their answers (the hand-written backward pass is called by :func:`.common.backward_by_hand`)."""

import torch

from .codec import record
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
        if string_delays is None:
            answers = [model.test_run(s) for s in strings]
        else:
            answers = [model.test_run(s, int(d)) for s, d in zip(strings, string_delays)]
    return EchoContract(logits, answers, getattr(model, "max_delay", None),
                        sum(p.numel() for p in model.parameters()))


@record
class EchoAnswers:
    """The trained echo model's type name and its ``test_run`` answer for every string."""

    type: str
    answers: list


@probe
def echo_answers(namespace, model_name, strings, delays=None) -> EchoAnswers:
    """The trained model ``model_name``'s ``test_run`` answer for every string (with its delay when
    ``delays`` is given)."""
    model = lookup(namespace, model_name)
    with torch.no_grad():
        if delays is None:
            answers = [model.test_run(s) for s in strings]
        else:
            answers = [model.test_run(s, int(d)) for s, d in zip(strings, delays)]
    return EchoAnswers(type(model).__name__, answers)
