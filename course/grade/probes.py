"""Code that runs beside the student's code: the probes and the plain-data codec.

Graders never touch a student's objects directly. They ask a *probe* to do one thing next to the
student's code (call a function, build and train a model, ...) and send back plain data: tensors,
numbers, strings, lists, tuples and dicts of them. During protected grading the probe runs inside
the student's kernel and its results cross back as a JSON file plus an ``.npz`` file; the grader
then judges those values in its own process, where nothing the student did can reach.

This module is therefore self-contained: it imports only the standard library, NumPy and torch, and
its source is shipped into the kernel as text (never ``import course`` there). Every probe has the
signature ``probe(namespace, **inputs) -> outputs``, ``namespace`` being the student's globals.
"""

import json
import sys
import traceback

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

# ----------------------------------------------------------------------------------------------
# Plain-data codec: a JSON tree whose tensors live in a side ``.npz`` file (loaded without pickle).

_NUMPY_UNSUPPORTED = {torch.bfloat16: torch.float32}


def encode(value, arrays):
    """JSON-able tree for ``value``; tensors and arrays are appended to ``arrays``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value if type(value) in (int, float) else {"__number__": float(value)}
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        dtype = str(tensor.dtype).replace("torch.", "")
        tensor = tensor.to(_NUMPY_UNSUPPORTED.get(tensor.dtype, tensor.dtype))
        arrays.append(tensor.resolve_conj().resolve_neg().numpy())
        return {"__tensor__": len(arrays) - 1, "dtype": dtype, "device": str(value.device),
                "requires_grad": bool(value.requires_grad), "has_graph": value.grad_fn is not None}
    if isinstance(value, np.ndarray):
        arrays.append(np.ascontiguousarray(value))
        return {"__array__": len(arrays) - 1}
    if isinstance(value, np.generic):
        return encode(value.item(), arrays)
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return [encode(v, arrays) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[encode(k, arrays), encode(v, arrays)] for k, v in value.items()]}
    return {"__unencodable__": type(value).__name__}


class Unencodable:
    """Stands for a value of a type the codec does not carry (named by ``type_name``)."""

    def __init__(self, type_name):
        self.type_name = type_name

    def __repr__(self):
        return f"<a {self.type_name}>"


class TensorFacts:
    """What the codec tells about a tensor beyond its values (attached as ``tensor.facts``)."""

    def __init__(self, dtype, device, requires_grad, has_graph):
        self.dtype, self.device = dtype, device
        self.requires_grad, self.has_graph = requires_grad, has_graph


def decode(tree, arrays):
    """Inverse of :func:`encode`: tensors come back on the CPU with their dtype name in ``facts``."""
    if isinstance(tree, list):
        return [decode(v, arrays) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if "__tensor__" in tree:
        array = arrays[f"a{int(tree['__tensor__'])}"]
        tensor = torch.from_numpy(np.array(array))
        dtype = getattr(torch, str(tree["dtype"]), None)
        if isinstance(dtype, torch.dtype):
            tensor = tensor.to(dtype)
        tensor.facts = TensorFacts(str(tree["dtype"]), str(tree["device"]),
                                   bool(tree["requires_grad"]), bool(tree["has_graph"]))
        return tensor
    if "__array__" in tree:
        return np.array(arrays[f"a{int(tree['__array__'])}"])
    if "__number__" in tree:
        return float(tree["__number__"])
    if "__tuple__" in tree:
        return tuple(decode(v, arrays) for v in tree["__tuple__"])
    if "__dict__" in tree:
        return {decode(k, arrays): decode(v, arrays) for k, v in tree["__dict__"]}
    if "__unencodable__" in tree:
        return Unencodable(str(tree["__unencodable__"]))
    raise ValueError("not a value written by the probe codec")


def save(path, value):
    """Write ``value`` as ``path.json`` and ``path.npz``."""
    arrays = []
    tree = encode(value, arrays)
    np.savez(path + ".npz", **{f"a{i}": a for i, a in enumerate(arrays)})
    with open(path + ".json", "w") as f:
        json.dump(tree, f)


def load(path):
    """Read a value written by :func:`save`, never unpickling anything."""
    with open(path + ".json") as f:
        tree = json.load(f)
    with np.load(path + ".npz", allow_pickle=False) as arrays:
        return decode(tree, arrays)


# ----------------------------------------------------------------------------------------------
# Running a probe: what the kernel executes, and what a local subject calls directly.

PROBE_FILENAME = "<course-probe>"


def _is_student_frame(frame):
    library = frame.filename.startswith((sys.prefix, sys.base_prefix, sys.exec_prefix)) or "site-packages" in frame.filename
    return not library and frame.filename not in (PROBE_FILENAME, globals().get("__file__"))


def describe_exception(error):
    """``{"type", "message", "where"}`` for an exception raised by student code."""
    frames = traceback.extract_tb(error.__traceback__)
    student = [f for f in frames if _is_student_frame(f)]
    where = ""
    if student:
        last = student[-1]
        where = f"in {last.name}, line {last.lineno}: {(last.line or '').strip()}"
    return {"type": type(error).__name__, "message": str(error)[:500], "where": where}


def run(namespace, probe_name, inputs):
    """Run the probe ``probe_name`` on ``inputs``; ``{"ok": outputs}`` or ``{"raised": description}``.

    The global random state is put back afterwards, so grading never changes what later cells compute.
    """
    try:
        with torch.random.fork_rng(devices=[]):
            return {"ok": globals()[probe_name](namespace, **inputs)}
    except BaseException as error:  # student code may raise anything, KeyboardInterrupt included
        return {"raised": describe_exception(error)}


def run_files(namespace, probe_name, io_path):
    """Kernel entry point: inputs from ``io_path + '.in'``, outputs to ``io_path + '.out'``."""
    save(io_path + ".out", run(namespace, probe_name, load(io_path + ".in")))


# ----------------------------------------------------------------------------------------------
# Helpers for probes.

class MissingName(Exception):
    """The student's namespace does not define a name a probe needs."""


def lookup(namespace, name):
    if name not in namespace:
        raise MissingName(f"{name} is not defined (run the cell that defines it)")
    return namespace[name]


class _OpRecorder(TorchDispatchMode):
    """Records the name of every ATen operator that runs while it is active."""

    def __init__(self):
        super().__init__()
        self.ops = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.add(str(func.overloadpacket.__name__))
        return func(*args, **(kwargs or {}))


def _detached(value):
    """Inputs handed to student code are fresh copies, so in-place edits cannot reach the grader."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_detached(v) for v in value)
    return value


# ----------------------------------------------------------------------------------------------
# The probes.

def _mutated(args, copies):
    """Indices of the tensor arguments whose values changed since ``copies`` were taken."""
    return [i for i, (a, b) in enumerate(zip(args, copies))
            if b is not None and not (a.shape == b.shape and torch.equal(a, b))]


def _copies(args):
    return [a.clone() if isinstance(a, torch.Tensor) else None for a in args]


def call(namespace, name, args=(), kwargs=None, catch_errors=False):
    """Call the student's function ``name``.

    Returns its result, the ATen operators it ran (``ops``) and the positions of tensor arguments it
    modified in place (``mutated_args``). With ``catch_errors`` an exception it raises is reported
    as ``error`` (its type name) instead of failing the probe.
    """
    function = lookup(namespace, name)
    args = [_detached(a) for a in args]
    kwargs = {k: _detached(v) for k, v in (kwargs or {}).items()}
    copies = _copies(args)
    result, error = None, None
    with _OpRecorder() as recorder:
        try:
            result = function(*args, **kwargs)
        except Exception as raised:
            if not catch_errors:
                raise
            error = type(raised).__name__
    return {"result": result, "error": error, "ops": sorted(recorder.ops), "mutated_args": _mutated(args, copies)}


def forward_backward(namespace, forward, backward, args=(), kwargs=None, dout=None):
    """``out, cache = forward(*args, **kwargs)``, then ``grads = backward(dout, cache)``.

    The cache stays beside the student's code; only ``out``, ``grads``, the ATen operators both
    passes ran and the arguments either modified in place come back.
    """
    forward_fn, backward_fn = lookup(namespace, forward), lookup(namespace, backward)
    args = [_detached(a) for a in args]
    kwargs = {k: _detached(v) for k, v in (kwargs or {}).items()}
    copies = _copies(args)
    with _OpRecorder() as recorder:
        returned = forward_fn(*args, **kwargs)
        if not (isinstance(returned, tuple) and len(returned) == 2):
            raise TypeError(f"{forward} must return a pair (out, cache), got {type(returned).__name__}")
        out, cache = returned
        dout_copy = dout.clone()
        grads = backward_fn(dout_copy, cache)
    mutated = _mutated(args, copies) + (["dout"] if not torch.equal(dout_copy, dout) else [])
    return {"out": out, "grads": grads, "ops": sorted(recorder.ops), "mutated_args": mutated}


def values(namespace, names):
    """The values of ``names`` in the student's namespace (``None`` for a missing one); classes and
    functions come back as their qualified names (``module.Name``)."""

    def plain(value):
        if isinstance(value, type) or callable(value) and not isinstance(value, torch.Tensor):
            return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', type(value).__name__)}"
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, tuple):
            return tuple(plain(v) for v in value)
        return value

    return {name: plain(namespace.get(name)) for name in names}



def _graph_facts(output):
    """How often each operator appears in the autograd graph behind ``output``, and whether the graph
    adds two computed tensors (a residual connection: neither side a parameter)."""
    counts, residual, seen, stack = {}, False, set(), [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        counts[type(node).__name__] = counts.get(type(node).__name__, 0) + 1
        children = [child for child, _ in node.next_functions]
        if type(node).__name__.startswith("AddBackward"):
            computed = [c for c in children if c is not None and type(c).__name__ != "AccumulateGrad"]
            residual = residual or len(computed) == 2
        stack.extend(children)
    return counts, residual


def inspect_model(namespace, name, kwargs, input_shape, seed):
    """Build ``name(**kwargs)`` and run one training-mode forward pass on a seeded batch.

    Returns the output, the module types it holds, its parameter count, the autograd operators of
    the pass and whether the graph has a residual addition.
    """
    torch.manual_seed(seed)
    model = lookup(namespace, name)(**kwargs)
    model.train()
    output = model(torch.randn(*input_shape))
    graph, residual = _graph_facts(output) if isinstance(output, torch.Tensor) and output.grad_fn else ({}, False)
    return {"output": output, "modules": sorted({type(m).__name__ for m in model.modules()}),
            "parameters": sum(p.numel() for p in model.parameters()), "graph": graph, "residual": residual}


def train_classifier(namespace, name, kwargs, images, labels, test_images, steps, batch_size, lr, seed):
    """Train a fresh ``name(**kwargs)`` with Adam on (images, labels) for ``steps`` minibatches and
    return its logits on ``test_images`` (whose labels stay with the grader) and the loss curve."""
    torch.manual_seed(seed)
    model = lookup(namespace, name)(**kwargs)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    for _ in range(steps):
        index = torch.randint(0, len(images), (batch_size,), generator=generator)
        loss = torch.nn.functional.cross_entropy(model(images[index]), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(chunk) for chunk in test_images.split(256)])
    return {"logits": logits, "losses": losses}


def _linear_model(weight, bias):
    """Flatten -> Linear with the given parameters (its own dtype)."""
    layer = torch.nn.Linear(weight.shape[1], weight.shape[0]).to(weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return torch.nn.Sequential(torch.nn.Flatten(), layer)


def loss_and_correct(namespace, weight, bias, images, labels):
    """Call ``get_loss_and_correct`` on a linear model with the given parameters; report the loss,
    the count, their types, and the weight gradient that ``loss.backward()`` then produces."""
    model = _linear_model(weight, bias)
    loss, n_correct = lookup(namespace, "get_loss_and_correct")(
        model, (images.clone(), labels.clone()), torch.nn.CrossEntropyLoss(), torch.device("cpu"))
    facts = {"loss": loss, "loss_type": type(loss).__name__, "n_correct": n_correct,
             "n_correct_type": type(n_correct).__name__, "weight_grad": None}
    if isinstance(loss, torch.Tensor) and loss.grad_fn is not None:
        loss.backward()
        facts["weight_grad"] = model[1].weight.grad
    return facts


def two_steps(namespace, weight, bias, batches, lr):
    """Two calls of ``step(loss, optimizer)`` with plain SGD on a linear model; the weights after each."""
    model = _linear_model(weight, bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    step = lookup(namespace, "step")
    after = []
    for images, labels in batches:
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        step(loss, optimizer)
        after.append([p.detach().clone() for p in model.parameters()])
    return {"after": after}


def table_net(namespace, parameters, images):
    """Build ``build_table_net()``, describe its layers, load ``parameters`` in order (when their
    shapes fit) and return its output on ``images``."""
    net = lookup(namespace, "build_table_net")()
    layers = [type(layer).__name__ for layer in net.children()]
    shapes = [tuple(p.shape) for p in net.parameters()]
    output = None
    if shapes == [tuple(p.shape) for p in parameters]:
        with torch.no_grad():
            for target, value in zip(net.parameters(), parameters):
                target.copy_(value)
            output = net(images)
    return {"type": type(net).__name__, "layers": layers, "shapes": shapes, "output": output}
