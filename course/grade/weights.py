"""Trained weights a student submitted inside a notebook: decoded here, in the grading process, from
plain data (JSON and base64, never pickle), with every size bounded and every field checked.

The notebooks' last cell (``submit_weights``) stores each trained model's ``state_dict`` as one
output of MIME type :data:`WEIGHTS_MIME`::

    {"format": "course-weights/1",
     "models": {"<name>": {"class": "ConvNet", "kwargs": {"num_classes": 10},
                           "tensors": {"<parameter>": {"dtype": "float16", "shape": [32, 3, 3, 3],
                                                       "data": "<base64 of the raw little-endian bytes>"}}}},
     "bytes": 580000, "sha256": "<of the raw bytes, in order>"}

``kwargs`` are the constructor arguments the cell could read back from the model (plain values);
the grader tries them first when it rebuilds the student's class.
"""

import base64
import binascii
import hashlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

WEIGHTS_FORMAT = "course-weights/1"
WEIGHTS_MIME = "application/vnd.course.weights+json"
WEIGHTS_LIMIT_BYTES = 8_000_000  # the raw weights of one notebook; the notebook states the same limit
MAX_TENSORS = 2_000  # per model: far above any model of the homework
DTYPES = ("float16", "float32", "float64", "int64", "int32", "uint8", "bool")  # allowed, by numpy's and torch's names
PLAIN = (bool, int, float, str)


class WeightsError(ValueError):
    """The submitted weights cannot be used; the message says why, for the student."""


@dataclass(frozen=True)
class SubmittedModel:
    """One trained model as submitted: its class name, the constructor arguments read back from it,
    and its state_dict (tensors on the CPU, in the dtypes stored)."""

    class_name: str
    kwargs: dict
    state: dict[str, "torch.Tensor"]


@dataclass(frozen=True)
class SubmittedWeights:
    """Every model a notebook submitted, with the size and checksum the notebook showed."""

    models: dict[str, SubmittedModel] = field(default_factory=dict)
    bytes: int = 0
    sha256: str = ""

    def summary(self) -> str:
        """The one line a student saw under the cell: models, size, checksum."""
        return (f"submitted weights of {', '.join(self.models) or 'no model'}: {self.bytes / 1e6:.2f} MB, "
                f"sha256 {self.sha256[:12]}")


def _tensor(name: str, entry, budget: list[int], digest) -> "torch.Tensor":
    import torch  # here: the pipeline's modules that only name this format (the MIME type, the limit) need no torch

    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data"}:
        raise WeightsError(f"the entry of {name} is not a tensor of the course's format")
    dtype, shape, data = entry["dtype"], entry["shape"], entry["data"]
    if dtype not in DTYPES:
        raise WeightsError(f"{name} has dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
    if not (isinstance(shape, list) and len(shape) <= 8 and all(type(n) is int and 0 <= n < 2**31 for n in shape)):
        raise WeightsError(f"{name} has a malformed shape {shape!r}")
    expected = math.prod(shape) * np.dtype(dtype).itemsize
    if not isinstance(data, str) or len(data) > 4 * (expected // 3 + 1) + 4:
        raise WeightsError(f"{name}: its data does not match its shape {tuple(shape)}")
    budget[0] -= expected
    if budget[0] < 0:
        raise WeightsError(f"the weights are larger than the limit of {WEIGHTS_LIMIT_BYTES / 1e6:g} MB")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise WeightsError(f"{name}: its data is not valid base64") from None
    if len(raw) != expected:
        raise WeightsError(f"{name}: {len(raw)} bytes of data for shape {tuple(shape)} in {dtype}")
    digest.update(raw)
    return torch.from_numpy(np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape))


def decode_weights(payload) -> SubmittedWeights:
    """The weights in a :data:`WEIGHTS_MIME` output.

    Raises:
        WeightsError: the payload is not of the course's format, too large or inconsistent.
    """
    if not isinstance(payload, dict) or payload.get("format") != WEIGHTS_FORMAT:
        raise WeightsError(f"the weights output is not of the format {WEIGHTS_FORMAT!r} (was the last cell edited?)")
    models = payload.get("models")
    if not isinstance(models, dict) or not all(isinstance(name, str) for name in models):
        raise WeightsError("the weights output holds no models")
    budget, digest, decoded = [WEIGHTS_LIMIT_BYTES], hashlib.sha256(), {}
    for model_name, entry in models.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("class"), str) and isinstance(entry.get("kwargs"), dict)
                and isinstance(entry.get("tensors"), dict)):
            raise WeightsError(f"the entry of model {model_name!r} is malformed")
        kwargs = {k: v for k, v in entry["kwargs"].items() if isinstance(k, str) and isinstance(v, PLAIN)}
        tensors = entry["tensors"]
        if len(tensors) > MAX_TENSORS:
            raise WeightsError(f"model {model_name!r} has more than {MAX_TENSORS} tensors")
        state = {str(name): _tensor(f"{model_name}.{name}", value, budget, digest) for name, value in tensors.items()}
        decoded[model_name] = SubmittedModel(entry["class"], kwargs, state)
    return SubmittedWeights(decoded, WEIGHTS_LIMIT_BYTES - budget[0], digest.hexdigest())
