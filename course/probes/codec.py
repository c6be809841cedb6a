"""The plain-data codec between the student's kernel and the grading process.

A value crosses as a JSON tree whose tensors and arrays live in a side ``.npz`` file, which is loaded
without pickle. What crosses: ``None``, bools, ints, floats, strings, lists, tuples, dicts, tensors
(with their dtype, device and autograd facts), NumPy arrays and scalars, and the result records of
the probes (immutable records registered with :func:`record`). Anything else becomes :class:`Unencodable`.

Decoding builds only the registered record types, with exactly their declared fields, so data
written by student code cannot make the grader construct anything else.
"""

import contextlib
import errno
import json
import os
import stat

import numpy as np
import torch

_NUMPY_UNSUPPORTED = {torch.bfloat16: torch.float32}
RECORDS: dict[str, type] = {}  # record name -> record class, filled by @record


def _record_init(self, *args, **kwargs):
    names = type(self).FIELDS
    if len(args) > len(names):
        raise TypeError(f"{type(self).__name__} takes {len(names)} fields, {len(args)} were given")
    values = dict(zip(names, args))
    for name, value in kwargs.items():
        if name not in names or name in values:
            raise TypeError(f"{type(self).__name__} got an unexpected or repeated field {name!r}")
        values[name] = value
    missing = [name for name in names if name not in values]
    if missing:
        raise TypeError(f"{type(self).__name__} lacks the fields {', '.join(missing)}")
    for name in names:
        object.__setattr__(self, name, values[name])


def _record_frozen(self, name, value):
    raise AttributeError(f"a {type(self).__name__} record cannot be changed")


def _record_eq(self, other):
    if type(other) is not type(self):
        return NotImplemented
    return all(getattr(self, name) == getattr(other, name) for name in self.FIELDS)


def _record_repr(self):
    return f"{type(self).__name__}({', '.join(f'{name}={getattr(self, name)!r}' for name in self.FIELDS)})"


def record(cls):
    """Make ``cls`` an immutable record of its annotated fields, in order, that crosses the codec as itself
    (a probe's typed result). Built without :mod:`dataclasses`: the probe modules are loaded afresh for
    every probe call, and a dataclass costs about a millisecond to make there."""
    cls.FIELDS = tuple(cls.__dict__.get("__annotations__", {}))
    cls.__init__, cls.__setattr__, cls.__delattr__ = _record_init, _record_frozen, _record_frozen
    cls.__eq__, cls.__hash__, cls.__repr__ = _record_eq, None, _record_repr
    RECORDS[cls.__name__] = cls
    return cls


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
    if type(value).__name__ in RECORDS and type(value) is RECORDS[type(value).__name__]:
        return {"__record__": type(value).__name__,
                "fields": {name: encode(getattr(value, name), arrays) for name in value.FIELDS}}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return [encode(v, arrays) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[encode(k, arrays), encode(v, arrays)] for k, v in value.items()]}
    return {"__unencodable__": type(value).__name__}


def _decode_record(tree, arrays):
    kind = RECORDS.get(str(tree["__record__"]))
    if kind is None:
        raise ValueError(f"not a record the probes write: {tree['__record__']!r}")
    fields = tree.get("fields")
    if not isinstance(fields, dict) or set(fields) != set(kind.FIELDS):
        raise ValueError(f"a {kind.__name__} record with the wrong fields")
    return kind(**{name: decode(value, arrays) for name, value in fields.items()})


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
    if "__record__" in tree:
        return _decode_record(tree, arrays)
    if "__tuple__" in tree:
        return tuple(decode(v, arrays) for v in tree["__tuple__"])
    if "__dict__" in tree:
        return {decode(k, arrays): decode(v, arrays) for k, v in tree["__dict__"]}
    if "__unencodable__" in tree:
        return Unencodable(str(tree["__unencodable__"]))
    raise ValueError("not a value written by the probe codec")


def _open(path: str, write: bool):
    """``path`` opened as a binary file without following a link: the probe folder belongs to the student's
    kernel, which may have put a link (or a pipe) where a file is expected. Writing replaces whatever is
    there with a new file (removing a name never follows a link); reading takes a regular file only."""
    if write:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL) if write else (os.O_RDONLY | os.O_NONBLOCK)
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", path)
    if write:
        os.fchmod(fd, 0o644)  # readable by the other side whatever the umask: the kernel runs as another user
    return os.fdopen(fd, "wb" if write else "rb")


def save(path, value):
    """Write ``value`` as ``path.json`` and ``path.npz``."""
    arrays = []
    tree = encode(value, arrays)
    with _open(path + ".npz", write=True) as f:
        np.savez(f, **{f"a{i}": a for i, a in enumerate(arrays)})
    with _open(path + ".json", write=True) as f:
        f.write(json.dumps(tree).encode())


def load(path):
    """Read a value written by :func:`save`, never unpickling anything."""
    with _open(path + ".json", write=False) as f:
        tree = json.load(f)
    with _open(path + ".npz", write=False) as f, np.load(f, allow_pickle=False) as arrays:
        return decode(tree, arrays)
