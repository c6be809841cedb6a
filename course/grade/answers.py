"""Reading a student's answer values: the forms an answer may take, and cases that check them.

Answers cross the probe codec as plain data (numbers, strings, tuples, lists, dicts, tensors and
arrays); these helpers bring the reasonable forms of one answer to one form before comparing.
"""

import numpy as np
import torch

from course.grade.checker import Case
from course.grade.subject import Subject


def as_tuple(value):
    """A list or tuple as a tuple; anything else as it is."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


def same_shape(value, chw) -> bool:
    """A shape answer may be given as (C, H, W) or as (H, W, C)."""
    value = as_tuple(value)
    return value in (tuple(chw), tuple(chw[1:]) + (chw[0],))


def as_number(value) -> float | None:
    """A Python or NumPy number, or a one-element tensor, as a float; anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.reshape(()))
    if isinstance(value, np.ndarray) and value.size == 1:
        return float(value.reshape(()))
    return None


def as_curve(value) -> list[float] | None:
    """A curve as floats: a list or tuple of numbers (or one-element tensors), a 1-D tensor or array."""
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 1:
        return [float(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        numbers = [as_number(v) for v in value]
        return None if any(n is None for n in numbers) else numbers
    return None


def answer_case(subject: Subject, name: str, accept, expected_text: str):
    """A case that reads the student's variable ``name`` and passes when ``accept(value)``."""
    def run(case: Case):
        value = subject.values(name)[name]
        case.expect(value is not None, f"{name} is not set")
        if value is not None:
            case.expect(bool(accept(value)), f"{name} = {value!r} is not right ({expected_text})")
    return run
