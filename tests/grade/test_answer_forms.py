"""Is an answer graded by its value, not its type or spelling?

For every answer cell of the three notebooks (values, and the functions whose results are whole numbers
or a dict of gradients), several equivalent forms of the right answer get full marks and realistic
wrong answers lose points in that part, through the graders (``LocalSubject`` namespaces); values of
forms no answer can take fail their check instead of becoming a grader error.
"""

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course.grade.answers import as_integer, as_shape, compare_values, module_class_name, same_value, shape_matches, truth
from course.grade.checker import Case, grade_part
from course.grade.hw2_cnn.given import GIVEN_A, GIVEN_B, GIVEN_W, GIVEN_X, given_tensor, reference_c
from course.grade.result import Status
from course.grade.subject import LocalSubject
from course.probes.common import ModuleValue
from course.reference.box_filter import box_filter
from course.reference.conv_arithmetic import conv_layer_cost, conv_output_size
from course.reference.seq_training import INITIAL_ACCURACY, INITIAL_LOSS
from course.reference.tiny_net import tiny_net_forward, tiny_net_gradients


@dataclass(frozen=True)
class Forms:
    """One answer cell: its part, namespaces holding equivalent right answers, and wrong ones."""

    part: str
    right: dict[str, dict]  # what the form is -> the student's namespace
    wrong: dict[str, dict]


# ---------------------------------------------------------------------------------------------
# The right values, from the reference

def _edge_output():
    return F.conv2d(given_tensor(GIVEN_X)[None, None], given_tensor(GIVEN_W)[None, None])[0, 0]


def _c_and_da():
    a = given_tensor(GIVEN_A)[None, None].requires_grad_()
    c = F.conv2d(a, given_tensor(GIVEN_B)[None, None])
    c.backward(torch.ones_like(c))
    return c.detach()[0, 0], a.grad[0, 0]


C, DA = _c_and_da()
C_MAXPOOL = F.max_pool2d(reference_c()[None, None], 2, 1)[0, 0]
TABLE = [((10, 32, 32), 280), ((10, 32, 32), 0), ((10, 16, 16), 0), ((20, 6, 6), 1820), ((20, 6, 6), 0),
         ((20, 3, 3), 0), ((180,), 0), ((10,), 1810)]
BIG = {"kernel_size": 10, **{k: conv_layer_cost((10, 205, 205), 96, 10, stride=3)[k] for k in ("params", "mults")}}
VALID = conv_layer_cost((10, 48, 64), 20, 3)
VALID_CONV = {"conv_shape": VALID["out_shape"], "relu_shape": VALID["out_shape"], "in_channels": 10,
              "out_channels": 20, "mults": VALID["mults"], "params": VALID["params"]}
CONV1D_SHAPES = {"f": (1, 2), "df_dW": (1, 2, 1, 2, 5), "df_dx": (1, 2, 2, 7), "dl_dW": (1, 2, 5)}
EDGE = {"EDGE_OUT_SHAPE": (5, 4), "EDGE_MAX": (12.0, (3, 1)), "EDGE_MIN": (-10.0, (0, 2)), "EDGE_ZERO": (0, 0)}
POOLS = {"max": nn.MaxPool2d, "average": nn.AvgPool2d, "lp": nn.LPPool2d}


def test_are_the_hard_coded_values_of_these_tests_the_references():
    out = _edge_output()
    assert tuple(out.shape) == EDGE["EDGE_OUT_SHAPE"] and float(out.max()) == 12 and float(out.min()) == -10
    assert float(out[3, 1]) == 12 and float(out[0, 2]) == -10 and float(out[0, 0]) == 0
    assert BIG == {"kernel_size": 10, "params": 96096, "mults": 96 * 66 * 66 * 1000}


# ---------------------------------------------------------------------------------------------
# Functions whose results are whole numbers, and the tiny network's dict of gradients

def returning(function, convert):
    """``function`` with its results put through ``convert`` (a whole number in another form)."""
    return lambda *args, **kwargs: convert(function(*args, **kwargs))


def costs(out_shape, count):
    """conv_layer_cost with its out_shape and counts in other forms."""
    def cost(*args, **kwargs):
        result = conv_layer_cost(*args, **kwargs)
        return {"out_shape": out_shape(result["out_shape"]), "params": count(result["params"]),
                "mults": count(result["mults"])}
    return cost


def conv_output_size_no_floor(size, kernel_size, stride=1, padding=0, dilation=1):
    before, after = (padding, padding) if isinstance(padding, int) else padding
    if dilation * (kernel_size - 1) + 1 > size + before + after:
        raise ValueError("does not fit")
    return (size + before + after - dilation * (kernel_size - 1) - 1) / stride + 1


def cost_without_bias_count(in_shape, out_channels, kernel_size, stride=1, padding=0, bias=True):
    return conv_layer_cost(in_shape, out_channels, kernel_size, stride, padding, bias=False)


def tiny_net_with(convert):
    """The reference tiny_net_gradients with every value put through ``convert``."""
    def gradients(x, k, b, w, a, y):
        return {key: convert(value) for key, value in tiny_net_gradients(x, k, b, w, a, y).items()}
    return gradients


def tiny_net_loops(x, k, b, w, a, y):
    """Plain Python floats and loops, lists for the vectors."""
    xs, ks, ws = x.tolist(), k.tolist(), w.tolist()
    z = [sum(ks[j] * xs[i + j] for j in range(3)) + float(b) for i in range(3)]
    u = [max(value, 0.0) for value in z]
    winners = [0 if u[0] >= u[1] else 1, 1 if u[1] >= u[2] else 2]
    v = [u[i] for i in winners]
    dy_hat = ws[0] * v[0] + ws[1] * v[1] + float(a) - float(y)
    du = [0.0, 0.0, 0.0]
    for window, position in enumerate(winners):
        du[position] += dy_hat * ws[window]
    dz = [du[i] if z[i] > 0 else 0.0 for i in range(3)]
    return {"dy_hat": dy_hat, "a": dy_hat, "w": [dy_hat * v[0], dy_hat * v[1]], "z": dz,
            "k": [sum(dz[i] * xs[i + j] for i in range(3)) for j in range(3)], "b": sum(dz)}


def tiny_net_ties_to_the_last(x, k, b, w, a, y):
    """Sends the gradient of equal maxima to the last of the window."""
    grads = tiny_net_loops(x, k, b, w, a, y)
    xs, ws, z = x.tolist(), w.tolist(), tiny_net_forward(x, k, b, w, a).z.tolist()
    u = [max(value, 0.0) for value in z]
    winners = [0 if u[0] > u[1] else 1, 1 if u[1] > u[2] else 2]
    du = [0.0, 0.0, 0.0]
    for window, position in enumerate(winners):
        du[position] += grads["dy_hat"] * ws[window]
    dz = [du[i] if z[i] > 0 else 0.0 for i in range(3)]
    return {**grads, "z": dz, "k": [sum(dz[i] * xs[i + j] for i in range(3)) for j in range(3)], "b": sum(dz)}


def tiny_net_relu_one_at_zero(x, k, b, w, a, y):
    """Lets the gradient through ReLU where z = 0."""
    grads = tiny_net_loops(x, k, b, w, a, y)
    forward = tiny_net_forward(x, k, b, w, a)
    du = torch.zeros(3, dtype=torch.float64)
    for window, position in enumerate(forward.first):
        du[position] += grads["dy_hat"] * float(w[window])
    dz = du * (forward.z >= 0)
    return {**grads, "z": dz, "k": forward.windows.T @ dz, "b": dz.sum()}


def box_filter_loops(image):
    """Nested loops over the interior, a Python mean of nine values."""
    out = image.clone()
    for i in range(1, image.shape[0] - 1):
        for j in range(1, image.shape[1] - 1):
            out[i, j] = sum(float(image[i + p, j + q]) for p in (-1, 0, 1) for q in (-1, 0, 1)) / 9
    return out


def box_filter_numpy(image):
    """NumPy's sliding windows, converted back to the image's dtype."""
    array = image.numpy()
    windows = np.lib.stride_tricks.sliding_window_view(array, (3, 3))
    out = array.copy()
    out[1:-1, 1:-1] = windows.mean(axis=(-2, -1))
    return torch.from_numpy(out)


def box_filter_blurs_the_border(image):
    """Averages the border too, over the pixels that exist."""
    padded = F.pad(image[None, None], (1, 1, 1, 1))[0, 0]
    ones = F.pad(torch.ones_like(image)[None, None], (1, 1, 1, 1))[0, 0]
    total = sum(padded[p:p + image.shape[0], q:q + image.shape[1]] for p in range(3) for q in range(3))
    count = sum(ones[p:p + image.shape[0], q:q + image.shape[1]] for p in range(3) for q in range(3))
    return total / count


def box_filter_in_float64(image):
    """Right values, but always float64."""
    return box_filter(image.double())


FUNCTIONS = [
    Forms("hw2_cnn.conv_output_size", right={
        "int": {"conv_output_size": conv_output_size},
        "NumPy integer": {"conv_output_size": returning(conv_output_size, np.int64)},
        "0-d int tensor": {"conv_output_size": returning(conv_output_size, torch.tensor)},
        "whole float": {"conv_output_size": returning(conv_output_size, float)},
    }, wrong={
        "no floor": {"conv_output_size": conv_output_size_no_floor},
        "off by one": {"conv_output_size": returning(conv_output_size, lambda n: n + 1)},
    }),
    Forms("hw2_cnn.conv_layer_cost", right={
        "tuples and ints": {"conv_layer_cost": conv_layer_cost},
        "a list and NumPy integers": {"conv_layer_cost": costs(list, np.int64)},
        "torch.Size and 0-d tensors": {"conv_layer_cost": costs(torch.Size, torch.tensor)},
        "a 1-D tensor and whole floats": {"conv_layer_cost": costs(torch.tensor, float)},
    }, wrong={
        "never counts the bias": {"conv_layer_cost": cost_without_bias_count},
        "channels last": {"conv_layer_cost": costs(lambda s: s[1:] + s[:1], int)},
    }),
    Forms("hw2_rnn.c_dimension", right={
        "int": {"c_dimension": lambda n, m: m},
        "NumPy integer": {"c_dimension": lambda n, m: np.int64(m)},
        "0-d tensor": {"c_dimension": lambda n, m: torch.tensor(m)},
        "whole float": {"c_dimension": lambda n, m: float(m)},
    }, wrong={
        "the input size": {"c_dimension": lambda n, m: n},
        "both sizes": {"c_dimension": lambda n, m: n + m},
    }),
    Forms("hw2_cnn.tiny_net_gradients", right={
        "0-d and 1-D tensors": {"tiny_net_gradients": tiny_net_gradients},
        "floats and lists": {"tiny_net_gradients": tiny_net_loops},
        "NumPy arrays": {"tiny_net_gradients": tiny_net_with(lambda t: t.numpy())},
        "extra singleton dimensions": {"tiny_net_gradients": tiny_net_with(lambda t: t.reshape(1, -1))},
    }, wrong={
        "ties to the last": {"tiny_net_gradients": tiny_net_ties_to_the_last},
        "ReLU's derivative 1 at 0": {"tiny_net_gradients": tiny_net_relu_one_at_zero},
    }),
    Forms("hw2_cnn.box_filter", right={
        "the reference": {"box_filter": box_filter},
        "plain loops": {"box_filter": box_filter_loops},
        "NumPy sliding windows": {"box_filter": box_filter_numpy},
    }, wrong={
        "blurs the border too": {"box_filter": box_filter_blurs_the_border},
        "always float64": {"box_filter": box_filter_in_float64},
    }),
]


# ---------------------------------------------------------------------------------------------
# Value answers

def table(shape=tuple, count=int, row=tuple, rows=list):
    """TABLE_NET_ANSWERS with its shapes, counts, rows and table in other forms."""
    return {"TABLE_NET_ANSWERS": rows([row((shape(s), count(p))) for s, p in TABLE])}


def with_batch(shape):
    return torch.Size((1,) + tuple(shape))


def channels_last(shape):
    return tuple(shape[1:]) + tuple(shape[:1])


def valid_conv(shape=tuple, count=int, **changes):
    answer = {key: shape(value) if key.endswith("shape") else count(value) for key, value in VALID_CONV.items()}
    return {"VALID_CONV": {**answer, **changes}}


def edges(**changes):
    return {**EDGE, **changes}


def pools(**changes):
    return {"POOL_MODULES": {**POOLS, **changes}, "C_MAXPOOL": C_MAXPOOL}


VALUES = [
    Forms("hw2_cnn.output_size_answers", right={
        "ints and a tuple": {"OUT_5x5": 3, "OUT_10x11": (3, 4)},
        "NumPy integer and a list": {"OUT_5x5": np.int64(3), "OUT_10x11": [3, 4]},
        "0-d tensor and a 1-D tensor": {"OUT_5x5": torch.tensor(3), "OUT_10x11": torch.tensor([3, 4])},
        "both sides and a torch.Size with batch and channel": {"OUT_5x5": (3, 3), "OUT_10x11": torch.Size([1, 1, 3, 4])},
        "a NumPy array of whole floats": {"OUT_5x5": 3.0, "OUT_10x11": np.array([3.0, 4.0])},
    }, wrong={
        "width and height swapped": {"OUT_5x5": 3, "OUT_10x11": (4, 3)},
        "no floor": {"OUT_5x5": 3, "OUT_10x11": (3.5, 4)},
        "the input size": {"OUT_5x5": 5, "OUT_10x11": (3, 4)},
    }),
    Forms("hw2_cnn.out_21x12", right={
        "a tuple": {"OUT_21x12": (5, 2)},
        "a list": {"OUT_21x12": [5, 2]},
        "a tensor": {"OUT_21x12": torch.tensor([5, 2])},
        "a NumPy integer and a 0-d tensor": {"OUT_21x12": (np.int64(5), torch.tensor(2))},
    }, wrong={
        "rounded up": {"OUT_21x12": (6, 3)},
        "axes swapped": {"OUT_21x12": (2, 5)},
    }),
    Forms("hw2_cnn.table_answers", right={
        "tuples and ints": table(),
        "lists and NumPy integers": table(shape=list, count=np.int64, row=list),
        "torch.Size with a batch of one, 0-d tensors": table(shape=with_batch, count=torch.tensor),
        "channels last, a tuple of rows": table(shape=channels_last, rows=tuple),
    }, wrong={
        "pooling with parameters": {"TABLE_NET_ANSWERS": [(s, p if i != 2 else 10) for i, (s, p) in enumerate(TABLE)]},
        "no padding in the first layer": {"TABLE_NET_ANSWERS": [((10, 30, 30), 280)] + TABLE[1:]},
    }),
    Forms("hw2_cnn.big_layer_answers", right={
        "ints": {"BIG_LAYER": BIG},
        "a square pair and NumPy integers": {"BIG_LAYER": {"kernel_size": (10, 10), "params": np.int64(BIG["params"]),
                                                           "mults": np.int64(BIG["mults"])}},
        "0-d tensors": {"BIG_LAYER": {key: torch.tensor(value) for key, value in BIG.items()}},
        "another kernel size that gives 66": {"BIG_LAYER": {"kernel_size": 9, **{
            k: conv_layer_cost((10, 205, 205), 96, 9, stride=3)[k] for k in ("params", "mults")}}},
    }, wrong={
        "a kernel that gives 65": {"BIG_LAYER": {**BIG, "kernel_size": 11}},
        "no biases": {"BIG_LAYER": {**BIG, "params": BIG["params"] - 96}},
        "a non-square pair": {"BIG_LAYER": {**BIG, "kernel_size": torch.tensor([10, 9])}},
    }),
    Forms("hw2_cnn.valid_conv_answers", right={
        "tuples and ints": valid_conv(),
        "channels last and NumPy integers": valid_conv(shape=channels_last, count=np.int64),
        "torch.Size with a batch of one and 0-d tensors": valid_conv(shape=with_batch, count=torch.tensor),
        "lists and whole floats": valid_conv(shape=list, count=float),
    }, wrong={
        "same padding": valid_conv(conv_shape=(20, 48, 64)),
        "ReLU with parameters": valid_conv(params=VALID_CONV["params"] + 20),
    }),
    Forms("hw2_cnn.worked_c_and_da", right={
        "float32 tensors": {"C": C.float(), "dA": DA.float()},
        "float64 with batch and channel": {"C": C[None, None], "dA": DA[None, None]},
        "NumPy arrays": {"C": C.numpy(), "dA": DA.numpy()},
        "nested lists of ints": {"C": [[int(v) for v in row] for row in C.tolist()], "dA": DA.int().tolist()},
        "row-major flat": {"C": C.reshape(-1), "dA": DA.reshape(-1)},
    }, wrong={
        "a true convolution (flipped kernel)": {"C": F.conv2d(given_tensor(GIVEN_A)[None, None],
                                                              given_tensor(GIVEN_B).flip(0, 1)[None, None])[0, 0], "dA": DA},
        "dA all ones": {"C": C, "dA": torch.ones(5, 5)},
        "transposed": {"C": C.T, "dA": DA.T},
    }),
    Forms("hw2_cnn.edge_detector_answers", right={
        "floats and tuples": edges(),
        "0-d tensors": edges(EDGE_MAX=(torch.tensor(12.0), (torch.tensor(3), torch.tensor(1))),
                             EDGE_MIN=(torch.tensor(-10.0), (torch.tensor(2) // 4, torch.tensor(2) % 4)),
                             EDGE_ZERO=torch.tensor([0, 0])),
        "lists, NumPy, a torch.Size": edges(EDGE_OUT_SHAPE=torch.Size([5, 4]), EDGE_MAX=[np.float32(12), np.array([3, 1])],
                                            EDGE_MIN=[-10, [0, 2]], EDGE_ZERO=[np.int64(0), 0]),
        "flat triples, 4-D places and shape": edges(EDGE_OUT_SHAPE=(1, 1, 5, 4), EDGE_MAX=(12, 3, 1),
                                                    EDGE_MIN=torch.tensor([-10, 0, 2]), EDGE_ZERO=(0, 0, 0, 0)),
        "other places of the extremes": edges(EDGE_MIN=(-10, (0, 2)), EDGE_ZERO=(4, 3)),
    }, wrong={
        "1-based places": edges(EDGE_MAX=(12, (4, 2)), EDGE_MIN=(-10, (1, 3)), EDGE_ZERO=(1, 1)),
        "the magnitude of the minimum": edges(EDGE_MIN=(10, (0, 2))),
        "height and width swapped": edges(EDGE_OUT_SHAPE=(4, 5)),
    }),
    Forms("hw2_cnn.edge_sum_limits", right={
        "tuples": {"EDGE_SUM_LIMITS": ((0, 1), (0, 1))},
        "lists": {"EDGE_SUM_LIMITS": [[0, 1], [0, 1]]},
        "a 2x2 tensor": {"EDGE_SUM_LIMITS": torch.tensor([[0, 1], [0, 1]])},
        "a NumPy array": {"EDGE_SUM_LIMITS": np.array([[0, 1], [0, 1]])},
    }, wrong={
        "half-open": {"EDGE_SUM_LIMITS": ((0, 2), (0, 2))},
        "1-based": {"EDGE_SUM_LIMITS": ((1, 2), (1, 2))},
        "flat": {"EDGE_SUM_LIMITS": (0, 1)},
    }),
    Forms("hw2_cnn.box_pooling", right={
        "a dict with the class": {"BOX_POOLING": {"pooling": nn.AvgPool2d, "kernel_size": 3, "stride": 1}},
        "an instance": {"BOX_POOLING": nn.AvgPool2d(3, stride=1)},
        "an instance with pairs and padding": {"BOX_POOLING": nn.AvgPool2d((3, 3), stride=(1, 1), padding=1)},
        "names and pairs": {"BOX_POOLING": {"pooling": "nn.AvgPool2d", "kernel_size": (3, 3), "stride": [1, 1]}},
        "a word": {"BOX_POOLING": {"pooling": "average pooling", "kernel_size": np.int64(3), "stride": torch.tensor(1)}},
    }, wrong={
        "the default stride": {"BOX_POOLING": nn.AvgPool2d(3)},
        "max pooling": {"BOX_POOLING": {"pooling": nn.MaxPool2d, "kernel_size": 3, "stride": 1}},
        "1-D average pooling": {"BOX_POOLING": {"pooling": "AvgPool1d", "kernel_size": 3, "stride": 1}},
    }),
    Forms("hw2_cnn.conv1d_shapes", right={
        "tuples": {"CONV1D_SHAPES": CONV1D_SHAPES},
        "lists": {"CONV1D_SHAPES": {key: list(shape) for key, shape in CONV1D_SHAPES.items()}},
        "torch.Size": {"CONV1D_SHAPES": {key: torch.Size(shape) for key, shape in CONV1D_SHAPES.items()}},
        "the single filter left out": {"CONV1D_SHAPES": {"f": (2,), "df_dW": (2, 2, 5), "df_dx": (2, 2, 7), "dl_dW": (2, 5)}},
    }, wrong={
        "the Jacobian without the output": {"CONV1D_SHAPES": {**CONV1D_SHAPES, "df_dW": (1, 2, 5)}},
        "the input's length as the output's": {"CONV1D_SHAPES": {**CONV1D_SHAPES, "f": (1, 7)}},
    }),
    Forms("hw2_cnn.pooling_answers", right={
        "classes": pools(),
        "instances and a 4-D C_MAXPOOL": {"POOL_MODULES": {"max": nn.MaxPool2d(2), "average": nn.AvgPool2d(2),
                                                           "lp": nn.LPPool2d(2, 2)}, "C_MAXPOOL": C_MAXPOOL[None, None]},
        "torch.nn.X and nn.X and X": pools(max="torch.nn.MaxPool2d", average="nn.AvgPool2d", lp="LPPool2d"),
        "a NumPy C_MAXPOOL and lower case": {"POOL_MODULES": {"max": "nn.maxpool2d", "average": nn.AvgPool2d,
                                                              "lp": "torch.nn.modules.pooling.LPPool2d"},
                                             "C_MAXPOOL": C_MAXPOOL.numpy()},
    }, wrong={
        "1-D pooling": pools(max=nn.MaxPool1d),
        "the functional routine": pools(average=F.avg_pool2d),
        "C max-pooled with stride 2": {"POOL_MODULES": POOLS, "C_MAXPOOL": F.max_pool2d(reference_c()[None, None], 2)[0, 0]},
    }),
    Forms("seq_classification.initial_values", right={
        "floats": {"INITIAL_LOSS": math.log(4), "INITIAL_ACCURACY": 1 / 4},
        "0-d tensors": {"INITIAL_LOSS": torch.tensor(4.0).log(), "INITIAL_ACCURACY": torch.tensor(0.25, dtype=torch.float64)},
        "NumPy scalars": {"INITIAL_LOSS": np.float32(np.log(4)), "INITIAL_ACCURACY": np.float64(0.25)},
        "one-element arrays": {"INITIAL_LOSS": np.array([math.log(4)]), "INITIAL_ACCURACY": torch.tensor([0.25])},
    }, wrong={
        "in bits": {"INITIAL_LOSS": math.log2(4), "INITIAL_ACCURACY": 0.25},
        "a percentage": {"INITIAL_LOSS": math.log(4), "INITIAL_ACCURACY": 25},
    }),
]

ANSWER_CELLS = FUNCTIONS + VALUES
RIGHT = [pytest.param(f.part, namespace, id=f"{f.part}: {label}") for f in ANSWER_CELLS for label, namespace in f.right.items()]
WRONG = [pytest.param(f.part, namespace, id=f"{f.part}: {label}") for f in ANSWER_CELLS for label, namespace in f.wrong.items()]


def graded(part_id: str, namespace: dict):
    result = grade_part(part_id, LocalSubject(dict(namespace)))
    assert result.status is Status.GRADED, result.note
    return result


@pytest.mark.parametrize("part_id,namespace", RIGHT)
def test_does_an_equivalent_form_of_the_right_answer_get_full_marks(part_id, namespace):
    result = graded(part_id, namespace)
    assert result.fraction == 1.0, result.report(1)


@pytest.mark.parametrize("part_id,namespace", WRONG)
def test_does_a_wrong_answer_lose_points(part_id, namespace):
    result = graded(part_id, namespace)
    assert result.fraction < 1.0, result.report(1)
    assert "[FAIL]" in result.report(1)


def test_has_every_answer_cell_three_right_forms_and_two_wrong_answers():
    parts = {f.part for f in ANSWER_CELLS}
    assert parts >= {"hw2_cnn.output_size_answers", "hw2_cnn.out_21x12", "hw2_cnn.table_answers",
                     "hw2_cnn.big_layer_answers", "hw2_cnn.valid_conv_answers", "hw2_cnn.worked_c_and_da",
                     "hw2_cnn.edge_detector_answers", "hw2_cnn.edge_sum_limits", "hw2_cnn.box_pooling",
                     "hw2_cnn.conv1d_shapes", "hw2_cnn.pooling_answers", "hw2_cnn.conv_output_size",
                     "hw2_cnn.conv_layer_cost", "hw2_cnn.tiny_net_gradients", "hw2_rnn.c_dimension",
                     "seq_classification.initial_values"}
    assert all(len(f.right) >= 3 and len(f.wrong) >= 2 for f in ANSWER_CELLS)


# ---------------------------------------------------------------------------------------------
# Values of forms no answer can take: a failed check, never a grader error

ODD_VALUES = [None, "twelve", {"a": 1}, [[1, 2], [3]], torch.tensor([[1.0, 2.0], [3.0, 4.0]]), np.array(["x", "y"]),
              torch.tensor([True, False]), (1 + 2j), nn.ReLU(), float("nan")]
ANSWER_NAMES = {
    "hw2_cnn.output_size_answers": ("OUT_5x5", "OUT_10x11"), "hw2_cnn.out_21x12": ("OUT_21x12",),
    "hw2_cnn.table_answers": ("TABLE_NET_ANSWERS",), "hw2_cnn.big_layer_answers": ("BIG_LAYER",),
    "hw2_cnn.valid_conv_answers": ("VALID_CONV",), "hw2_cnn.worked_c_and_da": ("C", "dA"),
    "hw2_cnn.edge_detector_answers": ("EDGE_OUT_SHAPE", "EDGE_MAX", "EDGE_MIN", "EDGE_ZERO"),
    "hw2_cnn.edge_sum_limits": ("EDGE_SUM_LIMITS",), "hw2_cnn.box_pooling": ("BOX_POOLING",),
    "hw2_cnn.conv1d_shapes": ("CONV1D_SHAPES",), "hw2_cnn.pooling_answers": ("POOL_MODULES", "C_MAXPOOL"),
    "seq_classification.initial_values": ("INITIAL_LOSS", "INITIAL_ACCURACY"),
}


@pytest.mark.parametrize("part_id", sorted(ANSWER_NAMES))
def test_does_a_value_of_an_unusual_form_fail_its_check_instead_of_the_grader(part_id):
    for odd in ODD_VALUES:
        namespace = {name: odd for name in ANSWER_NAMES[part_id]}
        assert graded(part_id, namespace).fraction < 1.0, repr(odd)
        inside = {name: {key: odd for key in ("kernel_size", "params", "mults", "f", "max", "pooling")}
                  for name in ANSWER_NAMES[part_id]}
        assert graded(part_id, inside).fraction < 1.0, repr(odd)


def test_does_a_multi_element_comparison_fail_a_check_instead_of_raising():
    case = Case()
    assert case.expect(torch.tensor([3, 4]) == 3, "an element-wise comparison") is False
    assert case.expect(np.array([True, True]), "an array of truth values") is False
    assert case.expect(torch.tensor(True), "one truth value") is True
    assert case.problems == ["an element-wise comparison", "an array of truth values"]
    assert truth(np.bool_(True)) and not truth(torch.tensor([]))


def test_do_the_answer_helpers_read_every_form_of_one_value():
    assert {as_integer(v) for v in (7, np.int64(7), 7.0, torch.tensor(7), np.array([7]), torch.tensor([[7.0]]))} == {7}
    assert all(as_integer(v) is None for v in (7.5, True, "7", [7, 7], torch.tensor([7, 7]), None, float("inf")))
    assert {as_shape(v) for v in ((3, 4), [3, 4], torch.Size([3, 4]), torch.tensor([3, 4]), np.array([3.0, 4.0]))} == {(3, 4)}
    assert shape_matches((1, 3, 4), (3, 4)) and not shape_matches((4, 3), (3, 4))
    assert shape_matches((32, 32, 10), (10, 32, 32), channels_last=True) and not shape_matches((32, 32, 10), (10, 32, 32))
    assert same_value([np.int64(1), torch.tensor(2.0)], (1, 2)) and not same_value((1, 2, 3), (1, 2))
    assert same_value({"a": torch.tensor(3)}, {"a": 3}) and not same_value({"a": 3, "b": 4}, {"a": 3})
    assert compare_values("C", C.tolist(), C, rtol=0, atol=0).ok
    assert not compare_values("C", [[1, 2], [3]], C, rtol=0, atol=0).ok
    names = ("torch.nn.modules.pooling.MaxPool2d", "torch.nn.MaxPool2d", "nn.MaxPool2d", "MaxPool2d",
             ModuleValue("torch.nn.modules.pooling.MaxPool2d", {"kernel_size": 2}))
    assert {module_class_name(n) for n in names} == {"MaxPool2d"}
    assert module_class_name("torch.nn.functional.max_pool2d") is None and module_class_name(nn.MaxPool2d) is None
