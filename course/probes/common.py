"""Probes every notebook uses: call a student's function, run a forward and a backward pass, call a
gradient function written by hand while watching for autograd, read the student's variables.

Inputs handed to student code are fresh copies, so an in-place edit cannot reach the grader's own
tensors; the probes report such edits, and the ATen operators the student's code ran, as evidence.
"""

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .codec import record
from .runtime import lookup, probe


class OpRecorder(TorchDispatchMode):
    """Records the name of every ATen operator that runs (in this thread) while it is active."""

    def __init__(self):
        super().__init__()
        self.ops = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.add(str(func.overloadpacket.__name__))
        return func(*args, **(kwargs or {}))


def detached(value):
    """A fresh copy of a tensor (recursively in lists and tuples); other values as they are."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (list, tuple)):
        return type(value)(detached(v) for v in value)
    return value


def copies(args):
    """A clone of every tensor argument (None for the others), to detect in-place edits later."""
    return [a.clone() if isinstance(a, torch.Tensor) else None for a in args]


def mutated(args, before):
    """Indices of the tensor arguments whose values changed since ``before = copies(args)``."""
    return [i for i, (a, b) in enumerate(zip(args, before))
            if b is not None and not (a.shape == b.shape and torch.equal(a, b))]


@record
class CallOutcome:
    """What one call of a student's function did.

    Fields:
        result: what it returned (None when it raised and ``catch_errors`` was set).
        error: the type name of the exception it raised, or None.
        ops: the ATen operators it ran, sorted.
        mutated_args: positions of tensor arguments it modified in place.
    """

    result: object
    error: str | None
    ops: list
    mutated_args: list


@record
class ForwardBackwardOutcome:
    """A student's forward pass followed by their backward pass (the cache stays in the kernel).

    Fields:
        out: the forward pass's output.
        grads: what the backward pass returned.
        ops: the ATen operators both passes ran, sorted.
        mutated_args: positions of the forward's tensor arguments modified in place, and "dout"
            when the backward pass modified its upstream gradient.
    """

    out: object
    grads: object
    ops: list
    mutated_args: list


@probe
def call(namespace, name, args=(), kwargs=None, catch_errors=False) -> CallOutcome:
    """Call the student's function ``name`` on copies of ``args`` and ``kwargs``.

    With ``catch_errors`` an exception it raises is reported as ``error`` instead of failing the probe.
    """
    function = lookup(namespace, name)
    args = [detached(a) for a in args]
    kwargs = {k: detached(v) for k, v in (kwargs or {}).items()}
    before = copies(args)
    result, error = None, None
    with OpRecorder() as recorder:
        try:
            result = function(*args, **kwargs)
        except Exception as raised:
            if not catch_errors:
                raise
            error = type(raised).__name__
    return CallOutcome(result, error, sorted(recorder.ops), mutated(args, before))


@probe
def forward_backward(namespace, forward, backward, args=(), kwargs=None, dout=None) -> ForwardBackwardOutcome:
    """``out, cache = forward(*args, **kwargs)``, then ``grads = backward(dout, cache)``."""
    forward_fn, backward_fn = lookup(namespace, forward), lookup(namespace, backward)
    args = [detached(a) for a in args]
    kwargs = {k: detached(v) for k, v in (kwargs or {}).items()}
    before = copies(args)
    with OpRecorder() as recorder:
        returned = forward_fn(*args, **kwargs)
        if not (isinstance(returned, tuple) and len(returned) == 2):
            raise TypeError(f"{forward} must return a pair (out, cache), got {type(returned).__name__}")
        out, cache = returned
        dout_copy = dout.clone()
        grads = backward_fn(dout_copy, cache)
    changed = mutated(args, before) + (["dout"] if not torch.equal(dout_copy, dout) else [])
    return ForwardBackwardOutcome(out, grads, sorted(recorder.ops), changed)


@record
class BackwardByHand:
    """What a gradient function written by hand returned, and how it got there.

    Fields:
        result: what it returned.
        autograd_backward_ran: whether autograd's backward pass ran while it was called.
        ops: the ATen operators it ran, sorted.
        mutated_args: positions of tensor arguments it modified in place.
    """

    result: object
    autograd_backward_ran: bool
    ops: list
    mutated_args: list


@probe
def backward_by_hand(namespace, name, args) -> BackwardByHand:
    """Call the student's ``name(*args)`` on copies (no argument requires grad) and report whether
    autograd's backward pass ran while it did.

    Autograd's backward reads the tensors its graph saved: a saved-tensors hook whose *unpack* side is
    called exactly then tells that ``.backward()``, ``torch.autograd.grad``, ``torch.autograd.functional``
    or the like was used (building a graph by accident does not count). ``torch.func`` transforms refuse
    to run under such a hook and raise instead.
    """
    function = lookup(namespace, name)
    args = [detached(a) for a in args]
    before = copies(args)
    unpacked = []

    def pack(tensor):
        return tensor

    def unpack(tensor):
        unpacked.append(True)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack), OpRecorder() as recorder:
        result = function(*args)
    return BackwardByHand(result, bool(unpacked), sorted(recorder.ops), mutated(args, before))


@record
class ModuleValue:
    """An ``nn.Module`` instance given as an answer (e.g. ``nn.AvgPool2d(3, stride=1)``).

    Fields:
        name: its class's qualified name, ``module.Name`` (as :func:`plain` writes a class).
        settings: its constructor settings that are plain numbers, strings or tuples of them
            (``kernel_size``, ``stride``, ``padding``, ...), by attribute name.
    """

    name: str
    settings: dict


def _is_setting(value) -> bool:
    """Whether an attribute of a module is a plain setting (a number, a string, None, a tuple of numbers)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, tuple) and all(isinstance(v, (bool, int, float)) for v in value)


def _class_name(kind) -> str:
    return f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', type(kind).__name__)}"


def plain(value):
    """A student's value as plain data: classes and functions as their qualified names
    (``module.Name``), a module instance as a :class:`ModuleValue`, containers element by element."""
    if isinstance(value, torch.nn.Module):
        settings = {k: v for k, v in vars(value).items() if not k.startswith("_") and k != "training" and _is_setting(v)}
        return ModuleValue(_class_name(type(value)), settings)
    if isinstance(value, type) or callable(value) and not isinstance(value, torch.Tensor):
        return _class_name(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value


@record
class Values:
    """The student's variables by name (a missing one is None), as :func:`plain` data."""

    values: dict


@probe
def values(namespace, names) -> Values:
    """The values of ``names`` in the student's namespace."""
    return Values({name: plain(namespace.get(name)) for name in names})


class torch_threads:
    """Run a block with ``count`` torch intra-op threads, then restore the previous count.

    Training with one thread gives the same numbers in the grading kernel, in the grader's own
    process and in the student's notebook (whose setup cell asks for one thread too).
    """

    def __init__(self, count: int = 1):
        self.count = count

    def __enter__(self):
        self.previous = torch.get_num_threads()
        torch.set_num_threads(self.count)
        return self

    def __exit__(self, *exc_info):
        torch.set_num_threads(self.previous)
