"""Probes every notebook uses: call a student's function, run a forward and a backward pass, call a
gradient function written by hand while watching for autograd, read the student's variables.

Inputs handed to student code are fresh copies, so an in-place edit cannot reach the grader's own
tensors; the probes report such edits, and the ATen operators the student's code ran, as evidence.
"""

import sys
import threading

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .codec import record
from .runtime import lookup, probe


class OpRecorder(TorchDispatchMode):
    """Records the name of every ATen operator that runs (in this thread) while it is active."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # TorchDispatchMode wraps a subclass's __torch_dispatch__ in torch._disable_dynamo, whose first call
        # imports torch._dynamo: 1.2 s of a grading kernel for a mode that is never compiled. This hook
        # (documented in torch/utils/_python_dispatch.py) keeps the method as it is.
        return False

    def __init__(self):
        super().__init__()
        self.ops = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.add(str(func.overloadpacket.__name__))
        return func(*args, **(kwargs or {}))


SPAWNING_EVENTS = ("os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen")


def _audit(event, args):
    log = getattr(sys, "_course_spawn_log", None)
    if log is not None and event.startswith(SPAWNING_EVENTS):
        log.append(f"a process ({event})")


class SpawnWatch:
    """Notes the threads and processes started while it is active: the operator recording and autograd's
    watch see only the calling thread, so work done elsewhere cannot be verified.

    Processes are seen by an audit hook (installed once per kernel, it costs nothing while no watch is
    active), threads by wrapping ``threading.Thread.start`` and ``_thread.start_new_thread``.
    """

    def __enter__(self):
        import _thread

        if not getattr(sys, "_course_audit_installed", False):
            sys.addaudithook(_audit)
            sys._course_audit_installed = True
        self.events = []
        sys._course_spawn_log = self.events
        self._saved = (threading.Thread.start, _thread.start_new_thread, threading._start_new_thread)
        events, start, start_new = self.events, self._saved[0], self._saved[1]

        def watched_start(thread, *args, **kwargs):
            events.append(f"a thread ({type(thread).__name__})")
            return start(thread, *args, **kwargs)

        def watched_start_new(*args, **kwargs):
            events.append("a thread (_thread.start_new_thread)")
            return start_new(*args, **kwargs)

        threading.Thread.start = watched_start
        _thread.start_new_thread = threading._start_new_thread = watched_start_new
        return self

    def __exit__(self, *exc_info):
        import _thread

        threading.Thread.start, _thread.start_new_thread, threading._start_new_thread = self._saved
        sys._course_spawn_log = None

    @property
    def spawned(self) -> list:
        return sorted(set(self.events))


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
        spawned: the threads and processes it started (see SpawnWatch).
    """

    result: object
    error: str | None
    ops: list
    mutated_args: list
    spawned: list


@record
class ForwardBackwardOutcome:
    """A student's forward pass followed by their backward pass (the cache stays in the kernel).

    Fields:
        out: the forward pass's output.
        grads: what the backward pass returned.
        ops: the ATen operators both passes ran, sorted.
        mutated_args: positions of the forward's tensor arguments modified in place, and "dout"
            when the backward pass modified its upstream gradient.
        spawned: the threads and processes either pass started (see SpawnWatch).
    """

    out: object
    grads: object
    ops: list
    mutated_args: list
    spawned: list


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
    with SpawnWatch() as watch, OpRecorder() as recorder:
        try:
            result = function(*args, **kwargs)
        except Exception as raised:
            if not catch_errors:
                raise
            error = type(raised).__name__
    return CallOutcome(result, error, sorted(recorder.ops), mutated(args, before), watch.spawned)


@probe
def forward_backward(namespace, forward, backward, args=(), kwargs=None, dout=None) -> ForwardBackwardOutcome:
    """``out, cache = forward(*args, **kwargs)``, then ``grads = backward(dout, cache)``."""
    forward_fn, backward_fn = lookup(namespace, forward), lookup(namespace, backward)
    args = [detached(a) for a in args]
    kwargs = {k: detached(v) for k, v in (kwargs or {}).items()}
    before = copies(args)
    with SpawnWatch() as watch, OpRecorder() as recorder:
        returned = forward_fn(*args, **kwargs)
        if not (isinstance(returned, tuple) and len(returned) == 2):
            raise TypeError(f"{forward} must return a pair (out, cache), got {type(returned).__name__}")
        out, cache = returned
        dout_copy = dout.clone()
        grads = backward_fn(dout_copy, cache)
    changed = mutated(args, before) + (["dout"] if not torch.equal(dout_copy, dout) else [])
    return ForwardBackwardOutcome(out, grads, sorted(recorder.ops), changed, watch.spawned)


@record
class BackwardByHand:
    """What a gradient function written by hand returned, and how it got there.

    Fields:
        result: what it returned.
        autograd_backward_ran: whether autograd's backward pass ran while it was called.
        ops: the ATen operators it ran, sorted.
        mutated_args: positions of tensor arguments it modified in place.
        spawned: the threads and processes it started (see SpawnWatch).
    """

    result: object
    autograd_backward_ran: bool
    ops: list
    mutated_args: list
    spawned: list


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

    with SpawnWatch() as watch, torch.autograd.graph.saved_tensors_hooks(pack, unpack), OpRecorder() as recorder:
        result = function(*args)
    return BackwardByHand(result, bool(unpacked), sorted(recorder.ops), mutated(args, before), watch.spawned)


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


def _shape_sizes(state) -> list[int]:
    """The distinct sizes along any axis of the tensors of a state_dict, the most frequent first."""
    counts = {}
    for tensor in state.values():
        for size in tensor.shape:
            counts[int(size)] = counts.get(int(size), 0) + 1
    return sorted(counts, key=lambda size: -counts[size])


def _candidate_arguments(model_class, recorded, state, limit=200):
    """Constructor arguments to try, in order: the recorded ones, the defaults, then every way of
    filling the int parameters without a default value from the sizes found in ``state``."""
    import inspect
    import itertools

    yield dict(recorded)
    yield {}
    try:
        parameters = list(inspect.signature(model_class).parameters.values())
    except (TypeError, ValueError):  # a callable without a signature: only the two tries above
        return
    open_ints = [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                 and p.name not in recorded and (p.default is p.empty or isinstance(p.default, int))]
    sizes = _shape_sizes(state)[:12]
    for count, values in enumerate(itertools.product(sizes, repeat=len(open_ints))):
        if count >= limit or not open_ints:
            return
        yield {**recorded, **dict(zip(open_ints, values))}


def build_with_weights(namespace, class_name, recorded, state):
    """``class_name(**kwargs)`` with ``state`` loaded (strict), for the first candidate arguments whose
    model it fits, in float32 and eval mode; ``(model, kwargs, problem)`` with ``model`` None and the
    first candidate's loading problem when none fits."""
    model_class = lookup(namespace, class_name)
    first_problem = None
    for kwargs in _candidate_arguments(model_class, recorded, state):
        try:
            torch.manual_seed(0)
            model = model_class(**kwargs)
            model.load_state_dict(state, strict=True)
        except Exception as error:  # a constructor that refuses the arguments, or weights that do not fit
            first_problem = first_problem or f"{class_name}(**{kwargs}): {str(error).strip()[:600]}"
            continue
        return model.float().eval(), kwargs, ""
    return None, {}, first_problem or f"no arguments of {class_name} fit the weights"
