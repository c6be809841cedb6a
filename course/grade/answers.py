"""A student's answer values: the one place that brings the forms of an answer to one form and
compares it with the expected value, never raising.

Answers cross the probe codec as plain data: numbers, strings, tuples, lists, dicts, tensors, arrays,
classes and functions as their qualified names, ``nn.Module`` instances as
:class:`~course.probes.common.ModuleValue` records. An answer is graded by its value, so these helpers
take every reasonable form of one value:

* a whole number: an int, a NumPy integer, a float with a whole value, a one-element tensor or array;
* a sequence: a tuple, a list, a ``torch.Size``, a 1-D tensor or array;
* a shape: such a sequence of whole numbers, equal up to singleton dimensions (a leading batch of one,
  say), optionally channels-last;
* numbers in bulk: a tensor or array of any dtype, or nested lists, equal up to singleton dimensions;
* a ``torch.nn`` module: the class, an instance, or its name as ``torch.nn.X``, ``nn.X`` or ``X``.

Comparing a student's value never raises, whatever its type: a value of a form that cannot be right
is simply not equal, so a wrong answer fails its check instead of becoming a grader error.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from course.grade.subject import Subject
from course.probes.common import ModuleValue

if TYPE_CHECKING:
    from course.grade.checker import Case

ARRAYS = (torch.Tensor, np.ndarray)
SHOWN_CHARACTERS = 120  # a longer value is cut in messages: the student recognises it by its start


def truth(condition) -> bool:
    """The truth of a check's condition, never raising: an element-wise comparison (a tensor or an
    array of several values) is not a truth value and counts as false."""
    if isinstance(condition, ARRAYS):
        return _size(condition) == 1 and bool(condition.item())
    return bool(condition)


def _size(array) -> int:
    """The number of entries of a tensor or an array."""
    return array.numel() if isinstance(array, torch.Tensor) else int(array.size)


def shown(value) -> str:
    """``repr(value)`` for a message, cut to :data:`SHOWN_CHARACTERS`."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS - 3] + "..."


def _scalar(value):
    """The Python number in a NumPy scalar or a one-element tensor or array, or ``value`` itself."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, ARRAYS) and value.dtype not in (torch.bool, np.bool_) and _size(value) == 1:
        return value.reshape(()).item()
    return value


def as_number(value) -> float | None:
    """A Python or NumPy number, or a one-element tensor or array, as a float; anything else is None."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def as_integer(value) -> int | None:
    """A whole number in any form (int, NumPy integer, ``3.0``, a one-element tensor) as an int;
    anything else (a fraction, a bool, a string, several values) is None."""
    value = _scalar(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def as_items(value) -> list | None:
    """The elements of a tuple, list, ``torch.Size`` or tensor/array of one or more dimensions (whose
    elements are then Python numbers or nested lists); None for anything else."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, ARRAYS) and value.ndim >= 1:
        return value.tolist()
    return None


def as_side(value) -> int | None:
    """A size the same along both axes (a square kernel, a stride): a whole number, or a pair of two
    equal whole numbers; None for anything else."""
    side = as_integer(value)
    if side is not None:
        return side
    shape = as_shape(value)
    return shape[0] if shape is not None and len(shape) == 2 and shape[0] == shape[1] else None


def as_curve(value) -> list[float] | None:
    """A curve as floats: a list or tuple of numbers (or one-element tensors), a 1-D tensor or array."""
    if isinstance(value, ARRAYS) and value.ndim == 1:
        return [float(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        numbers = [as_number(v) for v in value]
        return None if any(n is None for n in numbers) else numbers
    return None


def as_shape(value) -> tuple[int, ...] | None:
    """A shape given as a sequence of whole numbers (a bare whole number is a 1-D shape); else None."""
    single = as_integer(value)
    if single is not None:
        return (single,)
    items = as_items(value)
    if items is None:
        return None
    dims = [as_integer(item) for item in items]
    return None if any(d is None for d in dims) else tuple(dims)


def squeezed(shape) -> tuple[int, ...]:
    """``shape`` without its singleton dimensions."""
    return tuple(d for d in shape if d != 1)


def shape_matches(value, expected, channels_last: bool = False) -> bool:
    """Whether the student's shape ``value`` is ``expected`` up to singleton dimensions; with
    ``channels_last``, ``(C, H, W)`` may also be given as ``(H, W, C)``."""
    got = as_shape(value)
    if got is None:
        return False
    expected = tuple(expected)
    forms = {squeezed(expected)}
    if channels_last:
        forms.add(squeezed(expected[1:] + expected[:1]))
    return squeezed(got) in forms


def same_value(value, expected, tolerance: float = 0.0) -> bool:
    """Whether the student's ``value`` is ``expected`` whatever its form.

    ``expected`` is an int (compared exactly with any whole-number form), a float (within
    ``tolerance``), a string, a tuple or list of such (any sequence form of the same length), or a dict
    of such (the same keys).
    """
    if isinstance(expected, bool):
        return isinstance(value, bool) and value is expected
    if isinstance(expected, int):
        return as_integer(value) == expected
    if isinstance(expected, float):
        number = as_number(value)
        return number is not None and abs(number - expected) <= tolerance
    if isinstance(expected, str):
        return isinstance(value, str) and value == expected
    if isinstance(expected, (tuple, list)):
        items = as_items(value)
        return items is not None and len(items) == len(expected) and \
            all(same_value(v, e, tolerance) for v, e in zip(items, expected))
    if isinstance(expected, dict):
        return isinstance(value, dict) and set(value) == set(expected) and \
            all(same_value(value[k], e, tolerance) for k, e in expected.items())
    raise TypeError(f"same_value cannot compare with a {type(expected).__name__}")  # a grader's bug


def as_array(value) -> torch.Tensor | None:
    """Numbers in bulk as a float64 tensor: a tensor or array of any real dtype, nested lists or
    tuples of numbers, or one number; None for anything else (strings, ragged lists, complex)."""
    if isinstance(value, torch.Tensor):
        return None if value.is_complex() else value.detach().to(torch.float64)
    if isinstance(value, np.ndarray):
        if not (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_) or np.iscomplexobj(value):
            return None
        return torch.from_numpy(value.astype(np.float64))
    if as_number(value) is not None:
        return torch.tensor(as_number(value), dtype=torch.float64)
    items = as_items(value)
    if not items:
        return None
    rows = [as_array(item) for item in items]
    if any(row is None for row in rows) or len({tuple(row.shape) for row in rows}) != 1:
        return None
    return torch.stack(rows)


def shape_text(shape) -> str:
    """``(2, 3, 4)`` for that shape (``(5,)`` for one dimension, ``()`` for a single number)."""
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


@dataclass(frozen=True)
class Comparison:
    """The student's numbers against the expected ones.

    Fields:
        ok: whether every value is within the tolerance.
        problem: what is wrong, for the student (empty when ok).
        worst: the largest error (None when the values could not be compared).
    """

    ok: bool
    problem: str = ""
    worst: float | None = None


def compare_numbers(name: str, got: torch.Tensor, expected: torch.Tensor, *, rtol: float, atol: float) -> Comparison:
    """``got`` against ``expected`` (tensors of one shape), entry by entry within ``atol + rtol * |expected|``."""
    got64, expected64 = got.to(torch.float64), expected.to(torch.float64)
    if not torch.isfinite(got64).all():
        return Comparison(False, f"{name} contains NaN or infinite values")
    error = (got64 - expected64).abs()
    worst = float(error.max()) if error.numel() else 0.0
    wrong = error > atol + rtol * expected64.abs()
    if bool(wrong.any()):
        where = tuple(int(i) for i in torch.nonzero(wrong)[0])
        return Comparison(False, f"{name}: largest error {worst:.3g} (first wrong entry at index {where}); "
                                 f"tolerance {atol:g} + {rtol:g}*|expected|", worst)
    return Comparison(True, worst=worst)


def compare_values(name: str, value, expected: torch.Tensor, *, rtol: float, atol: float,
                   same_entries: bool = False) -> Comparison:
    """The student's numbers ``value`` (a tensor or array of any dtype, nested lists, a number)
    against ``expected``: the shapes must agree up to singleton dimensions (with ``same_entries``,
    any shape with as many entries, read in row-major order), then every value within the tolerance."""
    numbers = as_array(value)
    if numbers is None:
        return Comparison(False, f"{name} is {shown(value)}, expected numbers of shape {shape_text(expected.shape)} "
                                 "(a tensor, an array or nested lists)")
    fits = numbers.numel() == expected.numel() if same_entries else squeezed(numbers.shape) == squeezed(expected.shape)
    if not fits:
        return Comparison(False, f"{name} has shape {shape_text(numbers.shape)}, expected "
                                 f"{shape_text(expected.shape)}")
    return compare_numbers(name, numbers.reshape(expected.shape), expected, rtol=rtol, atol=atol)


def module_class_name(value) -> str | None:
    """The class a ``torch.nn`` module answer names: a class or an instance of it, or a string
    ``torch.nn.X``, ``nn.X``, ``torch.nn.modules.<file>.X`` or ``X``; None when it names none."""
    if isinstance(value, ModuleValue):
        value = value.name
    if not isinstance(value, str):
        return None
    path, _, name = value.strip().removesuffix("()").rpartition(".")
    if path and path not in ("nn", "torch.nn") and not path.startswith("torch.nn.modules."):
        return None
    return name or None


def names_module(value, class_name: str) -> bool:
    """Whether the answer ``value`` names the ``torch.nn`` class ``class_name`` (in any letter case)."""
    named = module_class_name(value)
    return named is not None and named.lower() == class_name.lower()


def answer_case(subject: Subject, name: str, accept, expected_text: str):
    """A case that reads the student's variable ``name`` and passes when ``accept(value)``; the
    failure message shows the value given and ``expected_text``, what was expected."""
    def run(case: "Case"):
        value = subject.values(name)[name]
        if case.expect(value is not None, f"{name} is not set (run the cell that defines it)"):
            case.expect(accept(value), f"{name} = {shown(value)} is not right: expected {expected_text}")
    return run
