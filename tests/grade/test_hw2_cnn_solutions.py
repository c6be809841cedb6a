"""Do the hw2_cnn notebook's solutions equal the reference, and does every grader give them full marks?"""

import pytest
import torch

from course.data import cifar
from course.data import grading as grading_data
from course.grade.checker import PARTS, find_part, grade_part
from course.grade.subject import LocalSubject
from course.probes.hw2_cnn import train_minibatches
from course.reference import conv1d, conv2d, pooling
from course.reference.box_filter import box_filter
from course.reference.cnn_models import build_table_net
from course.reference.conv_arithmetic import conv_layer_cost, conv_output_size
from course.reference.tiny_net import tiny_net_gradients
from course.tools.notebooks import read, run_in_process
from support import submission

# The notebook's ConvNet takes minutes to train on a CPU (it is trained for real end to end in tests/pipeline);
# the weights part is checked here on a small correct CNN instead, 100 Adam steps on the stand-in (~90 %).
TRAIN_STEPS, TRAIN_BATCH, TRAIN_RATE = 100, 64, 3e-3


class SmallNet(torch.nn.Module):
    """A small correct CNN for 32x32 images: three convolutions, pooling, a linear head."""

    def __init__(self, num_classes=10, in_channels=3):
        super().__init__()
        nn = torch.nn
        self.features = nn.Sequential(nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.head = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.head(self.features(x))  # (N, num_classes)


@pytest.fixture(scope="module")
def notebook(repo):
    """The namespace of the source notebook run top to bottom (visible checks included), without the cells
    that run in Colab only (CIFAR training: exercised end to end in tests/pipeline)."""
    return run_in_process(read(str(repo / "source" / "hw2" / "hw2_cnn.ipynb")))


@pytest.fixture(scope="module")
def trained(shared_data, one_thread_module):
    """The submission of a SmallNet trained on the grading data's training split."""
    grading_data.prepare(shared_data)
    split = cifar.read_split(shared_data, train=True)
    x, y = split.normalised(), torch.from_numpy(split.labels)
    torch.manual_seed(0)
    model = SmallNet()
    train_minibatches(model, x, y, TRAIN_STEPS, TRAIN_BATCH, TRAIN_RATE, seed=0)
    return submission("hw2_cnn", shared_data, convnet=model)


def generator():
    return torch.Generator().manual_seed(7)


def test_does_conv_arithmetic_match(notebook):
    for size in range(3, 30, 3):
        for kernel, stride, padding, dilation in [(3, 1, 0, 1), (5, 2, (1, 2), 1), (2, 3, 1, 2)]:
            assert notebook["conv_output_size"](size, kernel, stride, padding, dilation) == \
                conv_output_size(size, kernel, stride, padding, dilation)
        assert notebook["conv_layer_cost"]((3, size, size + 2), 7, 3, 2, 1) == conv_layer_cost((3, size, size + 2), 7, 3, 2, 1)


@pytest.mark.parametrize("stride,padding,dilation,bias", [(1, 0, 1, True), ((2, 1), (1, 2), 1, False), (2, 1, (2, 1), True)])
def test_does_conv2d_match_the_reference_forward_and_backward(notebook, stride, padding, dilation, bias):
    g = generator()
    x, w = torch.randn(2, 3, 9, 8, generator=g, dtype=torch.float64), torch.randn(4, 3, 3, 2, generator=g, dtype=torch.float64)
    b = torch.randn(4, generator=g, dtype=torch.float64) if bias else None
    ours, our_cache = notebook["conv2d_forward"](x, w, b, stride, padding, dilation)
    ref, ref_cache = conv2d.conv2d_forward(x, w, b, stride, padding, dilation)
    assert torch.allclose(ours, ref)
    dout = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    for mine, theirs in zip(notebook["conv2d_backward"](dout, our_cache), conv2d.conv2d_backward(dout, ref_cache)):
        assert (mine is None and theirs is None) or torch.allclose(mine, theirs)


def test_do_the_conv1d_functions_match(notebook):
    g = generator()
    x, w = torch.randn(3, 11, generator=g, dtype=torch.float64), torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
    out = conv1d.conv1d_forward(x, w, 3)
    grad = torch.randn(out.shape, generator=g, dtype=torch.float64)
    assert torch.allclose(notebook["conv1d_forward"](x, w, 3), out)
    assert torch.allclose(notebook["conv1d_grad_w"](x, grad, 4, 3), conv1d.conv1d_grad_w(x, grad, 4, 3))
    assert torch.allclose(notebook["conv1d_grad_x"](w, grad, 11, 3), conv1d.conv1d_grad_x(w, grad, 11, 3))


@pytest.mark.parametrize("kernel,stride", [(2, None), (3, 1), ((2, 3), (1, 2))])
def test_does_pooling_match(notebook, kernel, stride):
    x = torch.randint(0, 4, (2, 2, 8, 9), generator=generator()).double()
    ours, our_cache = notebook["max_pool2d_forward"](x, kernel, stride)
    ref, ref_cache = pooling.max_pool2d_forward(x, kernel, stride)
    assert torch.equal(ours, ref)
    dout = torch.randn(ref.shape, generator=generator(), dtype=torch.float64)
    assert torch.allclose(notebook["max_pool2d_backward"](dout, our_cache), pooling.max_pool2d_backward(dout, ref_cache))
    assert torch.allclose(notebook["avg_pool2d_forward"](x, kernel, stride), pooling.avg_pool2d_forward(x, kernel, stride))
    assert torch.allclose(notebook["lp_pool2d_forward"](x + 1, 3, kernel, stride), pooling.lp_pool2d_forward(x + 1, 3, kernel, stride))


def test_do_the_box_filter_and_the_tiny_net_match(notebook):
    g = generator()
    for height, width in [(3, 3), (6, 5), (4, 9)]:
        image = torch.randn(height, width, generator=g, dtype=torch.float64)
        assert torch.allclose(notebook["box_filter"](image), box_filter(image))
    for _ in range(50):  # small integers: tied maxima and zero or negative pre-activations are common
        x, k, b = (torch.randint(-3, 4, shape, generator=g).double() for shape in ((5,), (3,), ()))
        w, a, y = (torch.randn(shape, generator=g, dtype=torch.float64) for shape in ((2,), (), ()))
        ours, ref = notebook["tiny_net_gradients"](x, k, b, w, a, y), tiny_net_gradients(x, k, b, w, a, y)
        assert set(ours) == set(ref) and all(torch.allclose(ours[key], ref[key]) for key in ref)


def test_is_the_table_net_the_reference_network(notebook):
    ours, ref = notebook["build_table_net"](), build_table_net()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 32, 32, generator=generator())
    assert torch.allclose(ours(x), ref(x))


def test_does_every_hw2_cnn_grader_give_the_solutions_full_marks(notebook, trained):
    find_part("hw2_cnn.conv2d_forward")
    for part_id in sorted(p for p in PARTS if p.startswith("hw2_cnn.")):
        namespace = {**notebook, "ConvNet": SmallNet} if part_id == "hw2_cnn.convnet_accuracy" else notebook
        result = grade_part(part_id, LocalSubject(namespace, trained))
        assert result.fraction == 1.0, result.report(PARTS[part_id].points)


def test_do_weights_that_do_not_fit_the_class_fall_back_to_the_learn_check(notebook, trained):
    """Weights of another architecture: the part says why, and the learn-check gives at most half."""
    class Linear(torch.nn.Module):  # a "ConvNet" whose parameters are not those of the trained one
        def __init__(self, num_classes=10, in_channels=3):
            super().__init__()
            self.head = torch.nn.Linear(in_channels * 32 * 32, num_classes)

        def forward(self, x):
            return self.head(x.flatten(1))

    result = grade_part("hw2_cnn.convnet_accuracy", LocalSubject({**notebook, "ConvNet": Linear}, trained))
    report = result.report(3)
    assert "do not fit your ConvNet class" in report and "learn-check" in report, report
    assert result.points(3) <= 1.5
