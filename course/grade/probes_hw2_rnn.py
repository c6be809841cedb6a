"""Probes of hw2_rnn.ipynb: they run beside the student's code (inside the grading kernel) and return
plain data; every judgement is made by the graders in :mod:`course.grade.hw2_rnn`.

Shipped into the kernel as text after :mod:`course.grade.probes` (the import line below is dropped
there), so only the standard library, NumPy and torch may be used. Every probe leaves torch's global
random state as it found it, so grading a part never changes what the student's later cells compute.
"""

import functools

import torch

from course.grade.probes import lookup


def _keeps_random_state(probe):
    """``probe`` run inside ``torch.random.fork_rng``: the kernel's global generator is restored after."""

    @functools.wraps(probe)
    def wrapped(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            return probe(*args, **kwargs)

    return wrapped


@_keeps_random_state
def gated_rnn_run(namespace, input_size, hidden_size, weights, x):
    """Build ``GatedRNN(input_size, hidden_size)``, report its parameters, and, when every weight of
    ``weights`` (name -> tensor) has a parameter of that name and shape, load them (in ``x``'s dtype)
    and run ``forward`` on a copy of ``x``.

    Returns the parameter shapes by name, whether the model is an ``nn.Module``, the output (None when
    the weights could not be loaded) and whether ``forward`` modified its input.
    """
    torch.manual_seed(0)
    model = lookup(namespace, "GatedRNN")(input_size, hidden_size)
    facts = {"is_module": isinstance(model, torch.nn.Module), "parameters": {}, "output": None, "mutated": False}
    if not facts["is_module"]:
        return facts
    named = dict(model.named_parameters())
    facts["parameters"] = {name: list(p.shape) for name, p in named.items()}
    if not weights or not all(name in named and tuple(named[name].shape) == tuple(w.shape) for name, w in weights.items()):
        return facts
    model = model.to(x.dtype)
    named = dict(model.named_parameters())
    with torch.no_grad():
        for name, weight in weights.items():
            named[name].copy_(weight)
    given = x.clone()
    facts["output"] = model(given)
    facts["mutated"] = not torch.equal(given, x)
    return facts


@_keeps_random_state
def backward_by_hand(namespace, args):
    """Call ``gated_rnn_backward(*args)`` (no argument requires grad) and report whether autograd's
    backward pass ran while it did.

    Autograd's backward reads the tensors its graph saved: a saved-tensors hook whose *unpack* side is
    called exactly then tells that ``.backward()``, ``torch.autograd.grad``, ``torch.autograd.functional``
    or the like was used (building a graph by accident does not count). ``torch.func`` transforms refuse
    to run under such a hook and raise instead.
    """
    function = lookup(namespace, "gated_rnn_backward")
    given = [a.clone() for a in args]
    unpacked = []

    def pack(tensor):
        return tensor

    def unpack(tensor):
        unpacked.append(True)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        result = function(*given)
    mutated = [i for i, (a, b) in enumerate(zip(given, args)) if not (a.shape == b.shape and torch.equal(a, b))]
    return {"result": result, "autograd_backward_ran": bool(unpacked), "mutated_args": mutated}


@_keeps_random_state
def echo_contract(namespace, class_name, args, x, delays, strings, string_delays):
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
    return {"logits": logits, "answers": answers, "max_delay": getattr(model, "max_delay", None),
            "parameters": sum(p.numel() for p in model.parameters())}


@_keeps_random_state
def echo_answers(namespace, model_name, strings, delays=None):
    """The trained model ``model_name``'s ``test_run`` answer for every string (with its delay when
    ``delays`` is given), and the model's type name."""
    model = lookup(namespace, model_name)
    with torch.no_grad():
        if delays is None:
            answers = [model.test_run(s) for s in strings]
        else:
            answers = [model.test_run(s, int(d)) for s, d in zip(strings, delays)]
    return {"type": type(model).__name__, "answers": answers}
