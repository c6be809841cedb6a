"""The hw2_cnn reference implementations against PyTorch, in float64."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course.reference.box_filter import BOX_POOLING, box_filter
from course.reference.cnn_models import ConvNet, build_table_net, get_loss_and_correct, step
from course.reference.conv1d import conv1d_forward, conv1d_grad_w, conv1d_grad_x
from course.reference.conv2d import conv2d_backward, conv2d_forward
from course.reference.conv_arithmetic import conv_layer_cost, conv_output_size
from course.reference.pooling import avg_pool2d_forward, lp_pool2d_forward, max_pool2d_backward, max_pool2d_forward
from course.reference.tiny_net import tiny_net_autograd, tiny_net_forward, tiny_net_gradients

DOUBLE = torch.float64


def close(a, b):
    return torch.allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("size,kernel,stride,padding,dilation", [
    (5, 3, 1, 0, 1), (10, 5, 2, 0, 1), (11, 5, 2, 0, 1), (32, 3, 1, 1, 1), (16, 3, 3, 2, 1),
    (205, 10, 3, 0, 1), (9, 3, 2, (1, 2), 2), (7, 7, 1, 0, 1), (6, 2, 4, (0, 3), 3),
])
def test_does_conv_output_size_match_pytorch(size, kernel, stride, padding, dilation):
    before, after = (padding, padding) if isinstance(padding, int) else padding
    x = F.pad(torch.zeros(1, 1, size), (before, after))
    expected = F.conv1d(x, torch.zeros(1, 1, kernel), stride=stride, dilation=dilation).shape[-1]
    assert conv_output_size(size, kernel, stride, padding, dilation) == expected


@pytest.mark.parametrize("args", [(3, 5), (4, 3, 1, 0, 2), (2, 3, 1, (0, 0))])
def test_is_a_kernel_that_does_not_fit_refused(args):
    with pytest.raises(ValueError):
        conv_output_size(*args)


def test_does_conv_layer_cost_count_like_pytorch():
    layer = nn.Conv2d(10, 96, kernel_size=10, stride=3)
    cost = conv_layer_cost((10, 205, 205), 96, 10, stride=3)
    out = layer(torch.zeros(1, 10, 205, 205))
    assert cost["out_shape"] == tuple(out.shape[1:]) == (96, 66, 66)
    assert cost["params"] == sum(p.numel() for p in layer.parameters())
    assert cost["mults"] == 96 * 66 * 66 * 10 * 10 * 10
    assert conv_layer_cost((10, 48, 64), 20, 3, bias=False)["params"] == 20 * 10 * 9


CONV_CASES = [
    # (N, C, H, W, F, KH, KW, stride, padding, dilation, bias)
    (2, 3, 7, 6, 4, 3, 3, 1, 0, 1, True),
    (1, 2, 9, 8, 3, 3, 2, (2, 1), (1, 2), 1, False),
    (3, 1, 10, 11, 2, 2, 3, 2, 1, (2, 1), True),
    (2, 4, 8, 8, 5, 1, 1, 3, 0, 1, True),
    (1, 3, 5, 5, 1, 5, 5, 1, 2, 1, False),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_does_conv2d_match_pytorch_forward_and_gradients_in_float64(case):
    n, c, h, w_, f, kh, kw, stride, padding, dilation, bias = case
    torch.manual_seed(0)
    x = torch.randn(n, c, h, w_, dtype=DOUBLE, requires_grad=True)
    w = torch.randn(f, c, kh, kw, dtype=DOUBLE, requires_grad=True)
    b = torch.randn(f, dtype=DOUBLE, requires_grad=True) if bias else None
    expected = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    out, cache = conv2d_forward(x.detach(), w.detach(), None if b is None else b.detach(), stride, padding, dilation)
    assert close(out, expected)
    dout = torch.randn_like(expected)
    expected.backward(dout)
    dx, dw, db = conv2d_backward(dout, cache)
    assert close(dx, x.grad) and close(dw, w.grad)
    assert (db is None) if b is None else close(db, b.grad)


def test_does_conv2d_keep_float32():
    out, cache = conv2d_forward(torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3), torch.randn(3))
    assert out.dtype == torch.float32
    assert all(g.dtype == torch.float32 for g in conv2d_backward(torch.ones_like(out), cache))


@pytest.mark.parametrize("channels,length,filters,kernel,stride", [(2, 7, 1, 5, 2), (3, 11, 2, 3, 1), (1, 10, 3, 4, 3)])
def test_does_conv1d_and_its_derivatives_match_autograd(channels, length, filters, kernel, stride):
    torch.manual_seed(1)
    x = torch.randn(channels, length, dtype=DOUBLE, requires_grad=True)
    w = torch.randn(filters, channels, kernel, dtype=DOUBLE, requires_grad=True)
    expected = F.conv1d(x[None], w, stride=stride)[0]
    assert close(conv1d_forward(x.detach(), w.detach(), stride), expected)
    grad_out = torch.randn_like(expected)
    expected.backward(grad_out)
    assert close(conv1d_grad_w(x.detach(), grad_out, kernel, stride), w.grad)
    assert close(conv1d_grad_x(w.detach(), grad_out, length, stride), x.grad)


POOL_CASES = [(2, 2, None), (3, 2, 1), ((2, 3), (1, 2), None), (2, 3, 2)]


@pytest.mark.parametrize("kernel,stride,_", POOL_CASES)
def test_do_the_pooling_layers_match_pytorch(kernel, stride, _):
    torch.manual_seed(2)
    x = torch.rand(2, 3, 9, 8, dtype=DOUBLE)
    assert close(max_pool2d_forward(x, kernel, stride)[0], F.max_pool2d(x, kernel, stride))
    assert close(avg_pool2d_forward(x, kernel, stride), F.avg_pool2d(x, kernel, stride))
    for p in (1, 2, 3.5):
        assert close(lp_pool2d_forward(x, p, kernel, stride), F.lp_pool2d(x, p, kernel, stride))


@pytest.mark.parametrize("kernel,stride", [(2, None), (3, 1), (2, 1), ((2, 3), (1, 2))])
def test_does_max_pool_backward_route_ties_like_pytorch(kernel, stride):
    # Integer-valued inputs in a small range give many tied maxima, overlapping windows share them.
    generator = torch.Generator().manual_seed(3)
    x = torch.randint(0, 3, (2, 2, 7, 7), generator=generator).to(DOUBLE).requires_grad_()
    expected = F.max_pool2d(x, kernel, stride)
    out, cache = max_pool2d_forward(x.detach(), kernel, stride)
    dout = torch.randn_like(expected)
    expected.backward(dout)
    assert close(max_pool2d_backward(dout, cache), x.grad)


def test_does_the_table_net_have_the_tabled_shapes_and_parameters():
    net = build_table_net()
    shapes, x = [], torch.zeros(1, 3, 32, 32)
    for layer in net:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(10, 32, 32), (10, 32, 32), (10, 16, 16), (20, 6, 6), (20, 6, 6), (20, 3, 3), (180,), (10,)]
    assert [sum(p.numel() for p in layer.parameters()) for layer in net] == [280, 0, 0, 1820, 0, 0, 0, 1810]


def test_does_the_reference_convnet_map_images_to_logits():
    assert ConvNet(num_classes=7, in_channels=1)(torch.zeros(4, 1, 32, 32)).shape == (4, 7)


def test_do_the_training_helpers_take_a_correct_step():
    torch.manual_seed(4)
    model = nn.Linear(3, 2).to(DOUBLE)
    images, labels = torch.randn(8, 3, dtype=DOUBLE), torch.randint(0, 2, (8,))
    loss, n_correct = get_loss_and_correct(model, (images, labels), nn.CrossEntropyLoss(), "cpu")
    assert isinstance(n_correct, int) and n_correct == int((model(images).argmax(1) == labels).sum())
    before, bias = model.weight.detach().clone(), model.bias.detach().clone()
    expected_grad = torch.autograd.functional.jacobian(lambda w: F.cross_entropy(images @ w.T + bias, labels), before)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.weight.grad = torch.full_like(model.weight, 100.0)  # a stale gradient that must not leak in
    step(loss, optimizer)
    assert close(model.weight.detach(), before - 0.1 * expected_grad)


@pytest.mark.parametrize("height,width", [(3, 3), (5, 5), (7, 4), (4, 9)])
def test_is_the_box_filter_average_pooling_inside_and_the_image_on_the_border(height, width):
    torch.manual_seed(5)
    image = torch.randn(height, width, dtype=DOUBLE)
    before = image.clone()
    out = box_filter(image)
    assert out.shape == image.shape and torch.equal(image, before)
    pooling = getattr(nn, BOX_POOLING["pooling"])(BOX_POOLING["kernel_size"], stride=BOX_POOLING["stride"])
    assert close(out[1:-1, 1:-1], pooling(image[None, None])[0, 0])
    assert close(out[1:-1, 1:-1], F.avg_pool2d(image[None, None], 3, stride=1)[0, 0])
    border = torch.ones(height, width, dtype=torch.bool)
    border[1:-1, 1:-1] = False
    assert torch.equal(out[border], image[border])
    assert box_filter(image.float()).dtype == torch.float32


def tiny_net_inputs(generator, integers: bool):
    """(x, k, b, w, a, y) in float64; small integers for x, k, b make ties and zero pre-activations common."""
    if integers:
        x, k, b = (torch.randint(lo, hi, shape, generator=generator).to(DOUBLE)
                   for lo, hi, shape in ((-3, 4, (5,)), (-2, 3, (3,)), (-2, 3, ())))
    else:
        x, k, b = (torch.randn(shape, generator=generator, dtype=DOUBLE) for shape in ((5,), (3,), ()))
    return (x, k, b) + tuple(torch.randn(shape, generator=generator, dtype=DOUBLE) for shape in ((2,), (), ()))


def test_is_the_tiny_net_forward_pass_pytorchs():
    generator = torch.Generator().manual_seed(6)
    for _ in range(20):
        x, k, b, w, a, _y = tiny_net_inputs(generator, integers=False)
        forward = tiny_net_forward(x, k, b, w, a)
        z = F.conv1d(x[None, None], k[None, None])[0, 0] + b
        v = F.max_pool1d(F.relu(z)[None], 2, stride=1)[0]
        assert close(forward.z, z) and close(forward.v, v) and close(forward.y_hat, w @ v + a)


@pytest.mark.parametrize("integers", [False, True])
def test_do_the_tiny_net_gradients_match_autograd_with_ties_and_negative_pre_activations(integers):
    generator = torch.Generator().manual_seed(7)
    seen = {"tie": 0, "negative routed": 0, "zero routed": 0}
    for _ in range(300):
        inputs = tiny_net_inputs(generator, integers)
        ours, theirs = tiny_net_gradients(*inputs), tiny_net_autograd(*inputs)
        assert set(ours) == set(theirs) == {"dy_hat", "a", "w", "z", "k", "b"}
        assert all(close(ours[key], theirs[key]) and ours[key].dtype == DOUBLE for key in ours)
        forward = tiny_net_forward(*inputs[:5])
        seen["tie"] += any(float(forward.u[i]) == float(forward.u[i + 1]) > 0 for i in range(2))
        seen["negative routed"] += any(float(forward.z[i]) < 0 for i in forward.first)
        seen["zero routed"] += any(float(forward.z[i]) == 0 for i in forward.first)
    if integers:  # the inputs did exercise both rules
        assert all(count >= 10 for count in seen.values()), seen
    else:
        assert seen["negative routed"] >= 10, seen


def test_do_the_tiny_net_gradients_follow_the_stated_rules_on_a_worked_example():
    # z = (3, 3, -2): the first window holds two equal maxima, z_2 is negative.
    inputs = [torch.tensor(v, dtype=DOUBLE) for v in ([1., 2, 2, 1, -4], [1., 0, 1], 0., [0.5, -1.5], 0.25, 1.)]
    grads = tiny_net_gradients(*inputs)
    expected = {"dy_hat": -3.75, "a": -3.75, "w": [-11.25, -11.25], "z": [-1.875, 5.625, 0.0],
                "k": [9.375, 7.5, 1.875], "b": 3.75}
    assert all(close(grads[key], torch.tensor(value, dtype=DOUBLE)) for key, value in expected.items())
