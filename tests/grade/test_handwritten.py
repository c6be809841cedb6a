"""Does the "write it yourself" rule catch library routines, however they are reached, and nothing else?"""

import pytest
import torch

from course.grade.handwritten import forbidden_ops, scan_source
from course.grade.subject import LocalSubject

HONEST = '''
def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    cols = torch.nn.functional.unfold(x, w.shape[2:])
    return helper(cols, w), None

def helper(cols, w):
    return torch.einsum("nkl,fk->nfl", cols, w.flatten(1))
'''


def test_is_honest_code_with_unfold_and_einsum_clean():
    assert scan_source([HONEST], ["conv2d_forward"]) == []


@pytest.mark.parametrize("body", [
    "return torch.nn.functional.conv2d(x, w), None",
    "return F.conv2d(x, w), None",
    "return torch.conv2d(x, w), None",
    "return nn.Conv2d(3, 4, 3)(x), None",
    "return c2d(x, w), None",
    "return getattr(F, 'conv2d')(x, w), None",
    "import scipy.signal\n    return scipy.signal.correlate(x, w), None",
    "return torch.ops.aten.convolution(x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1), None",
    "return helper(x, w), None",
])
def test_is_a_library_routine_found_however_it_is_reached(body):
    cells = ["import torch\nimport torch.nn.functional as F\nfrom torch.nn.functional import conv2d as c2d",
             "def helper(x, w):\n    return F.max_pool2d(x, 2)",
             f"def conv2d_forward(x, w, b=None):\n    {body}"]
    assert scan_source(cells, ["conv2d_forward"])


def test_does_a_later_redefinition_replace_an_earlier_one():
    cells = ["def conv2d_forward(x, w):\n    return F.conv2d(x, w)", HONEST]
    assert scan_source(cells, ["conv2d_forward"]) == []


def test_are_functions_with_library_names_in_their_own_name_left_alone():
    cells = ["def conv2d(x, w):\n    return x\n", "def conv2d_forward(x, w):\n    return conv2d(x, w), None\n"]
    assert scan_source(cells, ["conv2d_forward"]) == []


def test_does_the_operator_recording_see_a_convolution_reached_through_aten():
    namespace = {"sneaky": lambda x, w: torch.ops.aten.convolution(x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)}
    ops = LocalSubject(namespace).probe("call", name="sneaky", args=[torch.randn(1, 1, 4, 4), torch.randn(1, 1, 2, 2)]).ops
    assert forbidden_ops(ops) == ["convolution"]
    assert forbidden_ops(["im2col", "mm", "add", "col2im", "max", "mean"]) == []
