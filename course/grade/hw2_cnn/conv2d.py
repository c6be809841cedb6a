"""hw2_cnn section 2, convolution by hand: conv2d_forward and conv2d_backward against the reference
(cross-checked with PyTorch) on random settings, the worked questions on the given images A, B and X
(the edge detector's extremes and the limits of its sum), the gradients through a convolution followed
by a sigmoid, the box filter and the pooling it equals, and the gradients of a tiny conv1d -> ReLU ->
max-pool -> linear network."""

import torch
import torch.nn.functional as F

from course.grade.answers import (answer_case, as_integer, as_items, as_shape, as_side, names_module, same_value,
                                  shape_matches, shown)
from course.grade.checker import Case, Checker, describe_shape, once, part
from course.grade.crosscheck import agreed
from course.grade.handwritten import autograd_uses, check_ops, require_handwritten
from course.grade.hw2_cnn.given import GIVEN_A, GIVEN_B, GIVEN_W, GIVEN_X, HAND_WRITTEN_HINT, given_tensor
from course.grade.subject import Subject
from course.grade.tolerances import FLOAT32, FLOAT64, for_dtype
from course.probes.common import ModuleValue
from course.reference import conv2d
from course.reference.box_filter import BOX_POOLING, box_filter
from course.reference.tiny_net import tiny_net_autograd, tiny_net_forward, tiny_net_gradients


CONV_SETTINGS = [
    # (N, C, H, W, F, KH, KW, stride, padding, dilation, bias, dtype)
    (2, 3, 7, 6, 4, 3, 3, 1, 0, 1, True, torch.float64),
    (1, 2, 9, 8, 3, 3, 3, 2, 1, 1, False, torch.float64),
    (2, 2, 9, 10, 3, 3, 2, (2, 1), (1, 2), 1, True, torch.float64),
    (1, 3, 11, 10, 2, 3, 3, 1, 2, (2, 1), True, torch.float64),
    (3, 2, 8, 8, 4, 1, 1, 3, 0, 1, True, torch.float64),
    (2, 3, 6, 7, 4, 2, 3, 1, 1, 1, True, torch.float32),
]


def _describe_conv(setting) -> str:
    n, c, h, w, f, kh, kw, stride, padding, dilation, bias, dtype = setting
    return (f"x ({n}, {c}, {h}, {w}), w ({f}, {c}, {kh}, {kw}), {'bias' if bias else 'no bias'}, stride {stride}, "
            f"padding {padding}, dilation {dilation}, {str(dtype).replace('torch.', '')}")


def _conv_inputs(checker: Checker, setting):
    n, c, h, w, f, kh, kw, stride, padding, dilation, bias, dtype = setting
    x, weight = checker.randn(n, c, h, w, dtype=dtype), checker.randn(f, c, kh, kw, dtype=dtype)
    b = checker.randn(f, dtype=dtype) if bias else None
    return x, weight, b, {"stride": stride, "padding": padding, "dilation": dilation}


def _reference_conv(x, weight, b, options):
    """Our reference in float64, cross-checked with PyTorch (a mismatch is our bug, not the student's)."""
    x, weight = x.double().requires_grad_(), weight.double().requires_grad_()
    b = None if b is None else b.double().requires_grad_()
    ours, cache = conv2d.conv2d_forward(x.detach(), weight.detach(), None if b is None else b.detach(), **options)
    torch_out = F.conv2d(x, weight, b, **options)
    if not torch.allclose(ours, torch_out, rtol=1e-10, atol=1e-10):
        raise AssertionError("reference conv2d_forward disagrees with torch.nn.functional.conv2d")
    return ours, cache, (x, weight, b, torch_out)


@part("hw2_cnn.conv2d_forward", "conv2d_forward", 3, hint=HAND_WRITTEN_HINT)
def grade_conv2d_forward(subject: Subject, checker: Checker) -> None:
    """The output against the reference (cross-checked with F.conv2d) on six settings (strides,
    paddings, dilations as ints and pairs, with and without bias, float64 and one float32), a sixth
    each; inputs must stay unchanged and the dtype kept. A library convolution in the source or
    among the operators that ran zeroes the part."""
    require_handwritten(subject, checker, ["conv2d_forward"])
    for setting in CONV_SETTINGS:
        x, weight, b, options = _conv_inputs(checker, setting)

        def run(case: Case, x=x, weight=weight, b=b, options=options):
            expected, _, _ = _reference_conv(x, weight, b, options)
            outcome = subject.probe("call", name="conv2d_forward", args=[x, weight, b], kwargs=options)
            check_ops(checker, case, "conv2d_forward", outcome.ops, outcome.mutated_args, outcome.spawned)
            returned = outcome.result
            if not case.expect(isinstance(returned, tuple) and len(returned) == 2,
                               "should return a pair (out, cache)"):
                return
            case.expect_tensor("out", returned[0], expected, dtype=x.dtype, **for_dtype(x.dtype))
        checker.add("output on " + _describe_conv(setting), run)


@part("hw2_cnn.conv2d_backward", "conv2d_backward", 3.5,
      hint="dw sums, over the batch and every output position, the upstream gradient times the input "
           "window; dx scatters each upstream gradient back through the filter to the window it came from "
           "(strides and dilation included, padding removed); db sums dout over N, H_out and W_out.")
def grade_conv2d_backward(subject: Subject, checker: Checker) -> None:
    """dx, dw and db (weights 1.5, 1.5, 1) against autograd on F.conv2d in float64, each on the five
    float64 settings of the forward part; db must be None without a bias. Library convolutions zero
    the part."""
    require_handwritten(subject, checker, ["conv2d_forward", "conv2d_backward"])
    runs = []
    for setting in CONV_SETTINGS[:5]:  # gradients are checked in float64
        x, weight, b, options = _conv_inputs(checker, setting)
        dout = checker.randn(*_reference_conv(x, weight, b, options)[0].shape)
        runs.append((setting, x, weight, b, options, dout))

    def fetch():
        results = []
        for setting, x, weight, b, options, dout in runs:
            _, _, (x_ag, w_ag, b_ag, out_ag) = _reference_conv(x, weight, b, options)
            out_ag.backward(dout)
            expected = {"dx": x_ag.grad, "dw": w_ag.grad, "db": None if b_ag is None else b_ag.grad}
            outcome = subject.probe("forward_backward", forward="conv2d_forward", backward="conv2d_backward",
                                    args=[x, weight, b], kwargs=options, dout=dout)
            results.append((setting, expected, outcome))
        return results

    outcomes = once(fetch)
    for index, (name, weight) in enumerate((("dx", 1.5), ("dw", 1.5), ("db", 1.0))):
        def run(case: Case, index=index, name=name):
            for setting, expected, outcome in outcomes():
                check_ops(checker, case, "conv2d_backward", outcome.ops, outcome.mutated_args, outcome.spawned)
                grads = outcome.grads
                if not case.expect(isinstance(grads, tuple) and len(grads) == 3, "should return (dx, dw, db)"):
                    return
                if expected[name] is None:
                    case.expect(grads[index] is None, f"db should be None without a bias ({_describe_conv(setting)})")
                elif not case.expect_tensor(name, grads[index], expected[name], dtype=torch.float64, **FLOAT64):
                    case.fail(f"on {_describe_conv(setting)}")
                    return
        checker.add(f"{name} against autograd (float64) on {len(runs)} settings", run, weight)


@part("hw2_cnn.worked_c_and_da", "C = A (*) B and the gradient with respect to A", 1,
      hint="Compute C with conv2d_forward and dA with conv2d_backward on an all-ones upstream gradient.")
def grade_worked_c_and_da(subject: Subject, checker: Checker) -> None:
    """C and dA of the worked example A (*) B against autograd, half each: numbers in any form (a
    tensor or array of any dtype, nested lists), any shape with the right number of entries in
    row-major order."""
    a, b = given_tensor(GIVEN_A)[None, None].requires_grad_(), given_tensor(GIVEN_B)[None, None]
    c = F.conv2d(a, b)
    c.backward(torch.ones_like(c))
    given = once(lambda: subject.values("C", "dA"))
    for name, expected in (("C", c.detach()[0, 0]), ("dA", a.grad[0, 0])):
        def run(case: Case, name=name, expected=expected):
            case.expect_values(name, given()[name], expected, same_entries=True, **FLOAT32)
        checker.add(f"{name} ({describe_shape(expected)})", run)


def _edge_output():
    out, _ = conv2d.conv2d_forward(given_tensor(GIVEN_X)[None, None], given_tensor(GIVEN_W)[None, None])
    return out[0, 0]


def _place(value, shape) -> tuple[int, int] | None:
    """A 0-based (row, column) of an output of ``shape``, in any sequence form of whole numbers (further
    leading indices allowed when they are 0, as into an (N, C, H, W) output); None when it is none."""
    index = as_shape(value) if as_integer(value) is None else None
    if index is None or len(index) < 2 or any(index[:-2]):
        return None
    row, column = index[-2:]
    return (row, column) if 0 <= row < shape[0] and 0 <= column < shape[1] else None


@part("hw2_cnn.edge_detector_answers", "The 6x5 image X under W = [[1, -1], [1, -1]]", 1,
      hint="Compute the output with conv2d_forward and read its extremes and zeros (indices are 0-based).")
def grade_edge_detector_answers(subject: Subject, checker: Checker) -> None:
    """EDGE_OUT_SHAPE (singleton dimensions aside), EDGE_MAX and EDGE_MIN as (value, place) with any
    place where the extreme occurs, and EDGE_ZERO a place of a zero; a quarter each. Values as any
    number (a 0-d tensor too), places as any sequence of whole numbers, (value, row, column) flat too."""
    out = _edge_output()
    given = once(lambda: subject.values("EDGE_OUT_SHAPE", "EDGE_MAX", "EDGE_MIN", "EDGE_ZERO"))

    def extreme(name, value):
        def run(case: Case):
            answer = as_items(given()[name])
            if not case.expect(answer is not None and len(answer) in (2, 3),
                               f"{name} = {shown(given()[name])} is not a pair (value, (row, column))"):
                return
            given_place = answer[1] if len(answer) == 2 else answer[1:]
            place = _place(given_place, out.shape)
            case.expect(same_value(answer[0], value, tolerance=1e-6),
                        f"{name}: {shown(answer[0])} is not the {'largest' if value > 0 else 'most negative'} value")
            case.expect(place is not None and float(out[place]) == value,
                        f"{name}: {shown(given_place)} is not a 0-based (row, column) where that value occurs")
        return run

    checker.add("EDGE_OUT_SHAPE", answer_case(subject, "EDGE_OUT_SHAPE", lambda v: shape_matches(v, tuple(out.shape)),
                                              "the output's (height, width)"))
    checker.add("EDGE_MAX: largest positive value and a place", extreme("EDGE_MAX", float(out.max())))
    checker.add("EDGE_MIN: largest negative value and a place", extreme("EDGE_MIN", float(out.min())))

    def zero(case: Case):
        place = _place(given()["EDGE_ZERO"], out.shape)
        case.expect(place is not None and float(out[place]) == 0.0,
                    f"EDGE_ZERO = {shown(given()['EDGE_ZERO'])} is not a 0-based (row, column) of a zero of the output")
    checker.add("EDGE_ZERO: a place of a zero", zero)


@part("hw2_cnn.edge_sum_limits", "The limits of the sum Z[i, j] = sum W[k1, k2] X[i + k1, j + k2]", 0.5,
      hint="k1 runs over the rows of the 2x2 kernel W and k2 over its columns, from the first index to the last, "
           "both included, 0-based as everywhere in the notebook.")
def grade_edge_sum_limits(subject: Subject, checker: Checker) -> None:
    """EDGE_SUM_LIMITS = ((first, last), (first, last)) for k1 and k2, inclusive and 0-based, against
    the given kernel's shape; half each. Tuples, lists or a 2x2 tensor or array of whole numbers."""
    rows, columns = given_tensor(GIVEN_W).shape
    answer = once(lambda: subject.values("EDGE_SUM_LIMITS")["EDGE_SUM_LIMITS"])
    for axis, (index, size, over) in enumerate((("k1", rows, "rows"), ("k2", columns, "columns"))):
        def run(case: Case, axis=axis, index=index, size=size, over=over):
            limits = as_items(answer())
            if not case.expect(limits is not None and len(limits) == 2,
                               f"EDGE_SUM_LIMITS = {shown(answer())} is not a pair ((first, last), (first, last))"):
                return
            case.expect(same_value(limits[axis], (0, size - 1)),
                        f"the range of {index}, {shown(limits[axis])}, is not (first, last) of W's {size} {over}, "
                        "both included")
        checker.add(f"the range of {index}", run, 0.5)


@part("hw2_cnn.conv_sigmoid_grads", "Gradients through a convolution followed by a sigmoid", 1.5,
      hint="dJ/dZ = dJ/dU * U * (1 - U); then conv2d_backward(dJ/dZ, cache) gives dJ/dX and dJ/dW.")
def grade_conv_sigmoid_grads(subject: Subject, checker: Checker) -> None:
    """dJ/dZ, dJ/dW and dJ/dX (a third each) against autograd in float64 on three settings. Library
    convolutions zero the part."""
    require_handwritten(subject, checker, ["conv_sigmoid_grads"])
    settings = [(1, 1, 5, 5, 1, 3), (2, 3, 6, 7, 2, 3), (1, 2, 8, 6, 3, 2)]
    cases = []
    for n, c, h, w, f, k in settings:
        x, weight = checker.randn(n, c, h, w), checker.randn(f, c, k, k)
        du = checker.randn(n, f, h - k + 1, w - k + 1)
        x_ag, w_ag = x.clone().requires_grad_(), weight.clone().requires_grad_()
        z = F.conv2d(x_ag, w_ag)
        z.retain_grad()
        torch.sigmoid(z).backward(du)
        cases.append((x, weight, du, {"dJ_dZ": z.grad, "dJ_dW": w_ag.grad, "dJ_dX": x_ag.grad}))
    outcomes = once(lambda: [subject.probe("call", name="conv_sigmoid_grads", args=[x, w, du]) for x, w, du, _ in cases])
    for index, name in enumerate(("dJ_dZ", "dJ_dW", "dJ_dX")):
        def run(case: Case, index=index, name=name):
            for (x, _, _, expected), outcome in zip(cases, outcomes()):
                check_ops(checker, case, "conv_sigmoid_grads", outcome.ops, outcome.mutated_args, outcome.spawned)
                result = outcome.result
                if not case.expect(isinstance(result, tuple) and len(result) == 3, "should return (dJ_dZ, dJ_dW, dJ_dX)"):
                    return
                if not case.expect_tensor(f"{name} for x {describe_shape(x)}", result[index], expected[name], **FLOAT64):
                    return
        checker.add(f"{name} against autograd (float64) on {len(cases)} settings", run)


# ---------------------------------------------------------------------------------------------
# The box filter and the pooling it equals

BOX_IMAGES = [((5, 5), torch.float64), ((7, 4), torch.float64), ((3, 3), torch.float64), ((4, 8), torch.float64)]
BOX_IMAGE_32 = (6, 9)  # the float32 image: its result must stay float32
AVERAGE_WORDS = ("average", "avg", "mean")  # names of average pooling, once "pool", "2d", "_" and spaces are dropped


@part("hw2_cnn.box_filter", "box_filter", 1,
      hint="out[i, j] = image[i-1:i+2, j-1:j+2].mean() for 1 <= i <= H-2 and 1 <= j <= W-2; start from a copy of "
           "the image so that the border keeps its pixels (and the input stays unchanged).")
def grade_box_filter(subject: Subject, checker: Checker) -> None:
    """box_filter on random images (5, 5), (7, 4), (3, 3) and (4, 8) in float64 against the reference
    (whose interior is checked against F.avg_pool2d with kernel 3, stride 1): the interior (weight 2)
    and the border (1); and a (6, 9) float32 image, the whole result in float32 (1). The result must
    be a tensor of the image's shape, the input unchanged. A library convolution or pooling routine
    zeroes the part."""
    require_handwritten(subject, checker, ["box_filter"])
    images = [checker.randn(*shape, dtype=dtype) for shape, dtype in BOX_IMAGES]
    image32 = checker.randn(*BOX_IMAGE_32, dtype=torch.float32)

    def expected_of(image):
        ours = box_filter(image.double())
        agreed(ours[1:-1, 1:-1], F.avg_pool2d(image.double()[None, None], 3, stride=1)[0, 0])
        return ours

    outcomes = once(lambda: [subject.probe("call", name="box_filter", args=[image]) for image in images])

    def results(case: Case):
        """(image, result) for each float64 image, until a result is not a tensor of the image's shape."""
        for image, outcome in zip(images, outcomes()):
            check_ops(checker, case, "box_filter", outcome.ops, outcome.mutated_args, outcome.spawned)
            if not case.expect(isinstance(outcome.result, torch.Tensor) and outcome.result.shape == image.shape,
                               f"box_filter of a {describe_shape(image)} image should return a tensor of that shape, "
                               f"got {shown(outcome.result)}"):
                return
            yield image, outcome.result

    def interior(case: Case):
        for image, result in results(case):
            if not case.expect_tensor(f"the interior of a {describe_shape(image)} image", result[1:-1, 1:-1],
                                      expected_of(image)[1:-1, 1:-1], **FLOAT64):
                return

    def border(case: Case):
        for image, result in results(case):
            kept = torch.ones(image.shape, dtype=torch.bool)
            kept[1:-1, 1:-1] = False
            if not case.expect_tensor(f"the border of a {describe_shape(image)} image", result[kept], image[kept], **FLOAT64):
                return

    checker.add("the interior: the mean of every 3x3 neighbourhood, on images "
                + ", ".join(str(shape) for shape, _ in BOX_IMAGES), interior, 2)
    checker.add("the border: every pixel kept as it is", border, 1)

    def float32(case: Case):
        outcome = subject.probe("call", name="box_filter", args=[image32])
        check_ops(checker, case, "box_filter", outcome.ops, outcome.mutated_args, outcome.spawned)
        case.expect_tensor("the result", outcome.result, expected_of(image32), dtype=torch.float32, **FLOAT32)
    checker.add(f"a float32 image {BOX_IMAGE_32}: the result in float32", float32, 1)


def _pooling_answer(value):
    """(pooling, kernel_size, stride) of a BOX_POOLING answer: a dict with those keys, a torch.nn
    instance (its settings), or just the pooling (a class or a name)."""
    if isinstance(value, ModuleValue):
        return value.name, value.settings.get("kernel_size"), value.settings.get("stride")
    if isinstance(value, dict):
        return value.get("pooling"), value.get("kernel_size"), value.get("stride")
    return value, None, None


def _names_average_pooling(value) -> bool:
    """``nn.AvgPool2d`` in any form, or a name such as "average", "avg_pool2d" or "mean pooling"."""
    if names_module(value, BOX_POOLING["pooling"]):
        return True
    if isinstance(value, ModuleValue) or not isinstance(value, str):
        return False
    word = value.rpartition(".")[2].lower().replace("_", "").replace(" ", "").removesuffix("2d")
    return word.replace("pooling", "").replace("pool", "") in AVERAGE_WORDS


@part("hw2_cnn.box_pooling", "The pooling the box filter equals", 0.5,
      hint="Which pooling takes the mean of a window, how large is the window of the box filter, and how far apart "
           "are the centres of neighbouring windows? nn.AvgPool2d(3) alone has stride 3: its stride defaults to its "
           "kernel size.")
def grade_box_pooling(subject: Subject, checker: Checker) -> None:
    """BOX_POOLING, the pooling box_filter equals on the interior, against the reference's average
    pooling with kernel 3 and stride 1 (itself checked against box_filter): the kind, the kernel size
    and the stride, a third each. The kind as nn.AvgPool2d in any form (the class, ``"nn.AvgPool2d"``,
    ``"AvgPool2d"``) or a name ("average", "mean"); sizes as a whole number or a square pair; the
    whole answer as a dict ``{"pooling", "kernel_size", "stride"}`` or as an ``nn.AvgPool2d``
    instance (padding does not change the interior, so it is not judged)."""
    answer = once(lambda: _pooling_answer(subject.values("BOX_POOLING")["BOX_POOLING"]))
    checker.add("the kind of pooling", lambda case: case.expect(
        _names_average_pooling(answer()[0]), f"BOX_POOLING's pooling is {shown(answer()[0])}: expected the torch.nn "
                                             "class (or the name) of the pooling that box_filter equals"), 1 / 3)
    for index, key in ((1, "kernel_size"), (2, "stride")):
        checker.add(f"the {key}", lambda case, index=index, key=key: case.expect(
            as_side(answer()[index]) == BOX_POOLING[key],
            f"BOX_POOLING's {key} is {shown(answer()[index])}" + ("" if answer()[index] is not None else
                                                                  f" (give it under the key '{key}')")), 1 / 3)


# ---------------------------------------------------------------------------------------------
# The tiny network conv1d -> ReLU -> max-pool -> linear

TINY_NET_KEYS = ("dy_hat", "a", "w", "z", "k", "b")  # the gradients tiny_net_gradients returns
TINY_NET_DRAWS = 2  # inputs per kind
TINY_NET_TRIES = 10_000  # integer draws searched for inputs of a kind; each kind turns up within a few dozen


def _tiny_net_draw(checker: Checker, positive: bool):
    """(x, k, b, w, a, y) in float64: positive reals (distinct pre-activations), or small integers for
    x, k, b (ties and exact zeros are then common) with real w, a, y."""
    if positive:
        x, k, b = checker.rand(5) + 0.1, checker.rand(3) + 0.1, checker.rand(())
    else:
        x, k, b = (checker.randint(lo, hi, shape).double() for lo, hi, shape in ((-3, 4, (5,)), (-2, 3, (3,)), (-2, 3, ())))
    return x, k, b, checker.randn(2), checker.randn(()), checker.randn(())


def _tiny_net_kinds():
    """What makes an input of each kind, from its forward pass (z, u and the max windows' positions)."""
    return {
        "distinct positive pre-activations": lambda p: bool((p.z > 0).all()) and len(set(p.u.tolist())) == len(p.u),
        "a window's maximum is a negative pre-activation (ReLU passes no gradient)":
            lambda p: any(float(p.z[i]) < 0 for i in p.first),
        "a window's maximum is a pre-activation of exactly 0 (ReLU's derivative is 0 there)":
            lambda p: any(float(p.z[i]) == 0 for i in p.first),
        "tied positive maxima (the first of the window gets the gradient)":
            lambda p: any(float(p.u[i]) == float(p.u[i + 1]) > 0 for i in range(len(p.u) - 1)),
    }


def _tiny_net_inputs(checker: Checker) -> dict[str, list]:
    """TINY_NET_DRAWS inputs of each kind, drawn from the part's generator."""
    found = {}
    for kind, holds in _tiny_net_kinds().items():
        found[kind] = []
        for _ in range(TINY_NET_TRIES):
            inputs = _tiny_net_draw(checker, positive=kind.startswith("distinct"))
            if holds(tiny_net_forward(*inputs[:5])):
                found[kind].append(inputs)
                if len(found[kind]) == TINY_NET_DRAWS:
                    break
        if len(found[kind]) < TINY_NET_DRAWS:
            raise AssertionError(f"no tiny-net inputs of the kind {kind!r} were found")
    return found


def _numbers(tensor) -> str:
    """A small input for a message: its values to three significant digits."""
    values = [float(f"{v:.3g}") for v in tensor.reshape(-1).tolist()]
    return str(values[0]) if tensor.dim() == 0 else str(values)


def _tiny_net_expected(inputs) -> dict:
    """The gradients by autograd through PyTorch's operators, once the reference agrees with them."""
    ours, theirs = tiny_net_gradients(*inputs), tiny_net_autograd(*inputs)
    return {key: agreed(ours[key], theirs[key]) for key in TINY_NET_KEYS}


@part("hw2_cnn.tiny_net_gradients", "tiny_net_gradients", 2,
      hint="Go backwards one operation at a time: dL/dy_hat = y_hat - y; dL/dw = dL/dy_hat * v; each v[i] sends "
           "dL/dy_hat * w[i] to the position of its window's maximum (the first of equal ones), and the two windows "
           "add up at u[1]; ReLU lets the gradient through only where z > 0; then dL/dk[j] = sum_i dL/dz[i] x[i + j] "
           "and dL/db = sum_i dL/dz[i].")
def grade_tiny_net_gradients(subject: Subject, checker: Checker) -> None:
    """tiny_net_gradients against autograd through F.conv1d, F.relu and F.max_pool1d in float64 (the
    reference agreeing), on two inputs of each of four kinds: distinct positive pre-activations; a
    window's maximum at a negative pre-activation; at a pre-activation of exactly 0; tied positive
    maxima. Partial credit: dL/dy_hat and dL/da on every input (weight 1), dL/dw on every input (1),
    and dL/dz, dL/dk, dL/db together on each kind (1 each, 0.5 for the exact 0). Each value may be a
    tensor or array of any dtype, nested lists or a number, singleton dimensions aside. Autograd in the
    source or running during the call, or a library convolution or pooling routine, zeroes the part."""
    uses = autograd_uses(subject.cell_sources(), ["tiny_net_gradients"])
    if uses:
        checker.disqualify("tiny_net_gradients must compute the gradients by hand, without autograd, but it refers "
                           "to " + "; ".join(uses))
    require_handwritten(subject, checker, ["tiny_net_gradients"])
    kinds = _tiny_net_inputs(checker)
    runs = [(kind, inputs, _tiny_net_expected(inputs)) for kind, drawn in kinds.items() for inputs in drawn]

    def fetch():
        outcomes = [subject.probe("backward_by_hand", name="tiny_net_gradients", args=list(inputs)) for _, inputs, _ in runs]
        if any(outcome.autograd_backward_ran for outcome in outcomes):
            checker.disqualify("tiny_net_gradients must compute the gradients by hand, but autograd's backward pass "
                               "ran while it was called (.backward(), torch.autograd.grad or similar)")
        return outcomes

    outcomes = once(fetch)

    def judge(keys, only_kind=None):
        def run(case: Case):
            for (kind, inputs, expected), outcome in zip(runs, outcomes()):
                if only_kind is not None and kind != only_kind:
                    continue
                check_ops(checker, case, "tiny_net_gradients", outcome.ops, outcome.mutated_args, outcome.spawned)
                grads = outcome.result
                if not case.expect(isinstance(grads, dict) and all(key in grads for key in keys),
                                   f"should return a dict with the keys {list(TINY_NET_KEYS)}, got {shown(grads)}"):
                    return
                x, k, b, w, a, y = (_numbers(t) for t in inputs)
                for key in keys:
                    if not case.expect_values(f"dL/d{key}", grads[key], expected[key], **FLOAT64):
                        case.fail(f"on x = {x}, k = {k}, b = {b}, w = {w}, a = {a}, y = {y} ({kind})")
                        return
        return run

    checker.add("dL/dy_hat and dL/da on every input", judge(("dy_hat", "a")), 1)
    checker.add("dL/dw on every input", judge(("w",)), 1)
    for kind in kinds:
        checker.add(f"dL/dz, dL/dk and dL/db: {kind}", judge(("z", "k", "b"), kind), 0.5 if "exactly 0" in kind else 1)
