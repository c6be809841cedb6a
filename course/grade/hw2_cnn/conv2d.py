"""hw2_cnn section 2, convolution by hand: conv2d_forward and conv2d_backward against the reference
(cross-checked with PyTorch) on random settings, the worked questions on the given images A, B and X,
and the gradients through a convolution followed by a sigmoid."""

import torch
import torch.nn.functional as F

from course.grade.answers import as_tuple
from course.grade.checker import Case, Checker, describe_shape, once, part
from course.grade.handwritten import check_ops, require_handwritten
from course.grade.hw2_cnn.given import GIVEN_A, GIVEN_B, GIVEN_W, GIVEN_X, HAND_WRITTEN_HINT, given_tensor
from course.grade.subject import Subject
from course.grade.tolerances import FLOAT32, FLOAT64, for_dtype
from course.reference import conv2d


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


@part("hw2_cnn.conv2d_forward", "conv2d_forward", 4, hint=HAND_WRITTEN_HINT)
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


@part("hw2_cnn.conv2d_backward", "conv2d_backward", 4,
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
    """C and dA of the worked example A (*) B against autograd, half each (any dtype, any shape with
    the right number of entries)."""
    a, b = given_tensor(GIVEN_A)[None, None].requires_grad_(), given_tensor(GIVEN_B)[None, None]
    c = F.conv2d(a, b)
    c.backward(torch.ones_like(c))
    given = once(lambda: subject.values("C", "dA"))
    for name, expected in (("C", c.detach()[0, 0]), ("dA", a.grad[0, 0])):
        def run(case: Case, name=name, expected=expected):
            value = given()[name]
            if isinstance(value, torch.Tensor):
                value = value.reshape(expected.shape) if value.numel() == expected.numel() else value
            case.expect_tensor(name, value, expected, **FLOAT32)
        checker.add(f"{name} ({describe_shape(expected)})", run)


def _edge_output():
    out, _ = conv2d.conv2d_forward(given_tensor(GIVEN_X)[None, None], given_tensor(GIVEN_W)[None, None])
    return out[0, 0]


@part("hw2_cnn.edge_detector_answers", "The 6x5 image X under W = [[1, -1], [1, -1]]", 1,
      hint="Compute the output with conv2d_forward and read its extremes and zeros (indices are 0-based).")
def grade_edge_detector_answers(subject: Subject, checker: Checker) -> None:
    """EDGE_OUT_SHAPE, EDGE_MAX and EDGE_MIN as (value, place) with any place where the extreme
    occurs, and EDGE_ZERO a place of a zero; a quarter each."""
    out = _edge_output()
    given = once(lambda: subject.values("EDGE_OUT_SHAPE", "EDGE_MAX", "EDGE_MIN", "EDGE_ZERO"))

    def place_holds(place, value) -> bool:
        place = as_tuple(place)
        return (isinstance(place, tuple) and len(place) == 2 and all(isinstance(i, int) for i in place)
                and 0 <= place[0] < out.shape[0] and 0 <= place[1] < out.shape[1] and float(out[place]) == value)

    def extreme(name, value):
        def run(case: Case):
            answer = as_tuple(given()[name])
            ok = isinstance(answer, tuple) and len(answer) == 2 and answer[0] == value and place_holds(answer[1], value)
            case.expect(ok, f"{name} = {answer!r} is not (value, (row, column)) of the right extreme")
        return run

    checker.add("EDGE_OUT_SHAPE", lambda case: case.expect(as_tuple(given()["EDGE_OUT_SHAPE"]) == tuple(out.shape),
                                                           f"EDGE_OUT_SHAPE = {given()['EDGE_OUT_SHAPE']!r}"))
    checker.add("EDGE_MAX: largest positive value and a place", extreme("EDGE_MAX", float(out.max())))
    checker.add("EDGE_MIN: largest negative value and a place", extreme("EDGE_MIN", float(out.min())))
    checker.add("EDGE_ZERO: a place of a zero", lambda case: case.expect(
        place_holds(given()["EDGE_ZERO"], 0.0), f"EDGE_ZERO = {given()['EDGE_ZERO']!r} is not a zero of the output"))


@part("hw2_cnn.conv_sigmoid_grads", "Gradients through a convolution followed by a sigmoid", 2,
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
