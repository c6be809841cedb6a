"""Graders of hw2_cnn.ipynb: convolution arithmetic, convolution and pooling by hand, a CNN.

Every function part draws its inputs from the part's seeded generator, runs the student's code
through the subject, and compares with the reference (itself checked against PyTorch here, so a
disagreement between the two is reported as our bug, never charged to the student). Gradients are
checked in float64. Hand-written layers may not use a library convolution or pooling routine.
"""

import torch
import torch.nn.functional as F

from course.data.cifar_standin import make_images
from course.grade.checker import Case, Checker, describe_shape, once, part
from course.grade.forbidden import forbidden_ops, scan_source
from course.grade.subject import StudentError, Subject
from course.reference import conv1d, conv2d, pooling
from course.reference.cnn_models import build_table_net
from course.reference.conv_arithmetic import conv_layer_cost, conv_output_size

# float32 results are compared with float64 references: sums of a few hundred float32 products
# carry relative errors near 1e-6, so 1e-4 leaves room for any order of summation.
FLOAT32 = {"rtol": 1e-4, "atol": 1e-4}
# float64: any correct order of operations agrees to ~1e-12; 1e-7 still catches every real bug.
FLOAT64 = {"rtol": 1e-7, "atol": 1e-9}

# The worked examples given in the notebook (the notebook's cells hold the same literals).
GIVEN_A = [[1, 2, 0, 1, 3], [0, 1, 3, 2, 1], [2, 1, 0, 1, 0], [1, 0, 2, 3, 1], [3, 1, 1, 0, 2]]
GIVEN_B = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
GIVEN_X = [[0, 0, 0, 5, 5], [0, 0, 0, 5, 5], [0, 0, 3, 5, 5], [9, 9, 3, 0, 0], [9, 9, 3, 0, 0], [9, 9, 9, 9, 9]]
GIVEN_W = [[1, -1], [1, -1]]

HAND_WRITTEN_HINT = ("The grader calls your function on random inputs of several shapes; compare your "
                     "output with torch.nn.functional on the same inputs to find the case that differs.")


def _tensor(rows):
    return torch.tensor(rows, dtype=torch.float64)


def _reference_c():
    """C = A (*) B and its max pooling, the worked answers of sections 2 and 4."""
    c, _ = conv2d.conv2d_forward(_tensor(GIVEN_A)[None, None], _tensor(GIVEN_B)[None, None])
    return c[0, 0]


def _require_handwritten(subject: Subject, checker: Checker, names: list[str]) -> None:
    """Disqualify the part when the source of ``names`` refers to a library routine."""
    uses = scan_source(subject.cell_sources(), names)
    if uses:
        checker.disqualify("it must not use a library convolution or pooling routine, but it refers to "
                           + "; ".join(uses))


def _check_ops(checker: Checker, case: Case, name: str, ops: list[str], mutated) -> None:
    """Disqualify on forbidden ATen operators; fail the case when inputs were modified in place."""
    used = forbidden_ops(ops)
    if used:
        checker.disqualify(f"{name} ran the library routine(s) {', '.join(used)}")
        case.fail(f"ran the library routine(s) {', '.join(used)}")
    case.expect(not mutated, f"modified its input(s) {mutated} in place (inputs must stay unchanged)")


# ---------------------------------------------------------------------------------------------
# Section 1: convolution arithmetic

def _arithmetic_cases(checker: Checker):
    """Random (size, kernel, stride, padding, dilation) settings, grouped by what they exercise."""
    g = checker.generator

    def draw(low, high):
        return int(torch.randint(low, high, (1,), generator=g))

    groups = {"stride 1, no padding": [], "strides and int padding": [], "padding pairs and dilation": []}
    for _ in range(6):
        groups["stride 1, no padding"].append((draw(3, 40), draw(1, 4) * 2 - 1, 1, 0, 1))
        groups["strides and int padding"].append((draw(3, 40), draw(1, 7), draw(1, 5), draw(0, 4), 1))
        groups["padding pairs and dilation"].append((draw(5, 40), draw(1, 5), draw(1, 4), (draw(0, 4), draw(0, 4)), draw(1, 4)))
    return groups


@part("hw2_cnn.conv_output_size", "conv_output_size", 2,
      hint="out = floor((size + pad_before + pad_after - dilation*(kernel_size-1) - 1) / stride) + 1; "
           "raise ValueError when the dilated kernel is longer than the padded input.")
def grade_conv_output_size(subject: Subject, checker: Checker) -> None:
    for title, settings in _arithmetic_cases(checker).items():
        def run(case: Case, settings=settings):
            for args in settings:
                got = subject.probe("call", name="conv_output_size", args=list(args))["result"]
                expected = conv_output_size(*args)
                case.expect(got == expected and isinstance(got, int),
                            f"conv_output_size{args} returned {got!r}, expected {expected}")
        checker.add(f"output sizes, {title}", run)

    def refuses(case: Case):
        for args in [(3, 5), (6, 4, 1, 0, 2), (4, 3, 2, (0, 0), 3)]:
            outcome = subject.probe("call", name="conv_output_size", args=list(args), catch_errors=True)
            case.expect(outcome["error"] == "ValueError",
                        f"conv_output_size{args} (kernel does not fit) should raise ValueError, "
                        f"got {outcome['error'] or repr(outcome['result'])}")
    checker.add("raises ValueError when the kernel does not fit", refuses)


@part("hw2_cnn.conv_layer_cost", "conv_layer_cost", 2,
      hint="params = F*C*K*K (+F with bias); every output value costs C*K*K multiplications.")
def grade_conv_layer_cost(subject: Subject, checker: Checker) -> None:
    g = checker.generator
    settings = []
    for _ in range(5):
        c, size, f, k = (int(torch.randint(lo, hi, (1,), generator=g)) for lo, hi in ((1, 16), (8, 64), (1, 64), (1, 6)))
        stride, padding, bias = int(torch.randint(1, 4, (1,), generator=g)), int(torch.randint(0, 3, (1,), generator=g)), bool(torch.randint(0, 2, (1,), generator=g))
        settings.append(((c, size, size + 3), f, k, stride, padding, bias))
    for key, weight in (("out_shape", 1.0), ("params", 1.0), ("mults", 1.0)):
        def run(case: Case, key=key):
            for args in settings:
                got = subject.probe("call", name="conv_layer_cost", args=list(args))["result"]
                if not case.expect(isinstance(got, dict) and key in got, f"conv_layer_cost{args} returned no '{key}'"):
                    continue
                value = tuple(got[key]) if key == "out_shape" and isinstance(got[key], (list, tuple)) else got[key]
                expected = conv_layer_cost(*args)[key]
                case.expect(value == expected, f"'{key}' for in_shape={args[0]}, F={args[1]}, K={args[2]}, "
                                               f"stride={args[3]}, padding={args[4]}, bias={args[5]} is {value!r}, expected {expected}")
        checker.add(f"'{key}' on 5 random layers", run, weight)


def _answer_case(subject: Subject, name: str, accept, expected_text: str):
    """A case that reads the student's variable ``name`` and passes when ``accept(value)``."""
    def run(case: Case):
        value = subject.probe("values", names=[name])[name]
        case.expect(value is not None, f"{name} is not set")
        if value is not None:
            case.expect(bool(accept(value)), f"{name} = {value!r} is not right ({expected_text})")
    return run


def _as_tuple(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _same_shape(value, chw) -> bool:
    """A shape answer may be given as (C, H, W) or as (H, W, C)."""
    value = _as_tuple(value)
    return value in (tuple(chw), tuple(chw[1:]) + (chw[0],))


@part("hw2_cnn.output_size_answers", "Output sizes of the worked examples", 1,
      hint="Use conv_output_size along each axis.")
def grade_output_size_answers(subject: Subject, checker: Checker) -> None:
    checker.add("OUT_5x5: 5x5 image, 3x3 kernel",
                _answer_case(subject, "OUT_5x5", lambda v: _as_tuple(v) in (3, (3, 3)), "one side length"))
    checker.add("OUT_10x11: 10x11 image, 5x5 kernel, stride 2",
                _answer_case(subject, "OUT_10x11", lambda v: _as_tuple(v) == (3, 4), "(height, width)"))


TABLE_LAYERS = ("CONV3-10", "ReLU", "POOL-2", "CONV3-20", "ReLU", "POOL-2", "FLATTEN", "FC-10")


def _table_truth():
    net, x, truth = build_table_net(), torch.zeros(1, 3, 32, 32), []
    for layer in net:
        x = layer(x)
        truth.append((tuple(x.shape[1:]), sum(p.numel() for p in layer.parameters())))
    return truth


@part("hw2_cnn.table_answers", "Shapes and parameters of the table network", 1,
      hint="Propagate the 3x32x32 input layer by layer; pooling, ReLU and flattening have no parameters.")
def grade_table_answers(subject: Subject, checker: Checker) -> None:
    truth = _table_truth()
    answers = once(lambda: subject.probe("values", names=["TABLE_NET_ANSWERS"])["TABLE_NET_ANSWERS"])
    for index, (layer, (shape, params)) in enumerate(zip(TABLE_LAYERS, truth)):
        def run(case: Case, index=index, shape=shape, params=params):
            rows = answers()
            if not case.expect(isinstance(rows, (list, tuple)) and len(rows) == len(truth),
                               f"TABLE_NET_ANSWERS should list {len(truth)} (shape, params) rows"):
                return
            row = rows[index]
            ok = isinstance(row, (list, tuple)) and len(row) == 2
            case.expect(ok and (_same_shape(row[0], shape) or (len(shape) == 1 and _as_tuple(row[0]) in (shape, shape[0])))
                        and row[1] == params, f"row {index} = {row!r} is not right")
        checker.add(f"row {index}: {layer}", run, 1 / len(truth))


@part("hw2_cnn.big_layer_answers", "The 205x205x10 -> 66x66x96 layer", 1,
      hint="Find K with conv_output_size(205, K, stride=3) == 66 (K = 10 uses every input row; 8 and 9 "
           "also give 66 because of the floor); then count weights, biases and multiplications for that K.")
def grade_big_layer_answers(subject: Subject, checker: Checker) -> None:
    kernels = [k for k in range(1, 206) if conv_output_size(205, k, stride=3) == 66]
    answers = once(lambda: subject.probe("values", names=["BIG_LAYER"])["BIG_LAYER"])

    def given(key):
        value = answers()
        return value.get(key) if isinstance(value, dict) else None

    def cost(key):  # judged for the student's kernel size when it is one of the valid ones
        kernel = given("kernel_size") if given("kernel_size") in kernels else max(kernels)
        return conv_layer_cost((10, 205, 205), 96, kernel, stride=3)[key]

    checker.add("BIG_LAYER['kernel_size']", lambda case: case.expect(
        given("kernel_size") in kernels, f"BIG_LAYER['kernel_size'] is {given('kernel_size')!r}"), 1 / 3)
    for key in ("params", "mults"):
        checker.add(f"BIG_LAYER['{key}']", lambda case, key=key: case.expect(
            given(key) == cost(key), f"BIG_LAYER['{key}'] is {given(key)!r}"), 1 / 3)


@part("hw2_cnn.valid_conv_answers", "The 48x64x10 valid convolution with ReLU", 1,
      hint="A valid 3x3 convolution shrinks each side by 2; ReLU keeps the shape and has no parameters.")
def grade_valid_conv_answers(subject: Subject, checker: Checker) -> None:
    cost = conv_layer_cost((10, 48, 64), 20, 3)
    expected = {"conv_shape": cost["out_shape"], "relu_shape": cost["out_shape"], "in_channels": 10,
                "out_channels": 20, "mults": cost["mults"], "params": cost["params"]}
    answers = once(lambda: subject.probe("values", names=["VALID_CONV"])["VALID_CONV"])
    for key, value in expected.items():
        def run(case: Case, key=key, value=value):
            given = answers()
            got = given.get(key) if isinstance(given, dict) else None
            ok = _same_shape(got, value) if key.endswith("shape") else got == value
            case.expect(ok, f"VALID_CONV['{key}'] is {got!r}")
        checker.add(f"VALID_CONV['{key}']", run, 1 / len(expected))


# ---------------------------------------------------------------------------------------------
# Section 2: convolution by hand

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
    _require_handwritten(subject, checker, ["conv2d_forward"])
    for setting in CONV_SETTINGS:
        x, weight, b, options = _conv_inputs(checker, setting)

        def run(case: Case, x=x, weight=weight, b=b, options=options):
            expected, _, _ = _reference_conv(x, weight, b, options)
            outcome = subject.probe("call", name="conv2d_forward", args=[x, weight, b], kwargs=options)
            _check_ops(checker, case, "conv2d_forward", outcome["ops"], outcome["mutated_args"])
            returned = outcome["result"]
            if not case.expect(isinstance(returned, tuple) and len(returned) == 2,
                               "should return a pair (out, cache)"):
                return
            tolerance = FLOAT32 if x.dtype == torch.float32 else FLOAT64
            case.expect_tensor("out", returned[0], expected, dtype=x.dtype, **tolerance)
        checker.add("output on " + _describe_conv(setting), run)


@part("hw2_cnn.conv2d_backward", "conv2d_backward", 4,
      hint="dw sums, over the batch and every output position, the upstream gradient times the input "
           "window; dx scatters each upstream gradient back through the filter to the window it came from "
           "(strides and dilation included, padding removed); db sums dout over N, H_out and W_out.")
def grade_conv2d_backward(subject: Subject, checker: Checker) -> None:
    _require_handwritten(subject, checker, ["conv2d_forward", "conv2d_backward"])
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
                _check_ops(checker, case, "conv2d_backward", outcome["ops"], outcome["mutated_args"])
                grads = outcome["grads"]
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
    a, b = _tensor(GIVEN_A)[None, None].requires_grad_(), _tensor(GIVEN_B)[None, None]
    c = F.conv2d(a, b)
    c.backward(torch.ones_like(c))
    given = once(lambda: subject.probe("values", names=["C", "dA"]))
    for name, expected in (("C", c.detach()[0, 0]), ("dA", a.grad[0, 0])):
        def run(case: Case, name=name, expected=expected):
            value = given()[name]
            if isinstance(value, torch.Tensor):
                value = value.reshape(expected.shape) if value.numel() == expected.numel() else value
            case.expect_tensor(name, value, expected, **FLOAT32)
        checker.add(f"{name} ({describe_shape(expected)})", run)


def _edge_output():
    out, _ = conv2d.conv2d_forward(_tensor(GIVEN_X)[None, None], _tensor(GIVEN_W)[None, None])
    return out[0, 0]


@part("hw2_cnn.edge_detector_answers", "The 6x5 image X under W = [[1, -1], [1, -1]]", 1,
      hint="Compute the output with conv2d_forward and read its extremes and zeros (indices are 0-based).")
def grade_edge_detector_answers(subject: Subject, checker: Checker) -> None:
    out = _edge_output()
    given = once(lambda: subject.probe("values", names=["EDGE_OUT_SHAPE", "EDGE_MAX", "EDGE_MIN", "EDGE_ZERO"]))

    def place_holds(place, value) -> bool:
        place = _as_tuple(place)
        return (isinstance(place, tuple) and len(place) == 2 and all(isinstance(i, int) for i in place)
                and 0 <= place[0] < out.shape[0] and 0 <= place[1] < out.shape[1] and float(out[place]) == value)

    def extreme(name, value):
        def run(case: Case):
            answer = _as_tuple(given()[name])
            ok = isinstance(answer, tuple) and len(answer) == 2 and answer[0] == value and place_holds(answer[1], value)
            case.expect(ok, f"{name} = {answer!r} is not (value, (row, column)) of the right extreme")
        return run

    checker.add("EDGE_OUT_SHAPE", lambda case: case.expect(_as_tuple(given()["EDGE_OUT_SHAPE"]) == tuple(out.shape),
                                                           f"EDGE_OUT_SHAPE = {given()['EDGE_OUT_SHAPE']!r}"))
    checker.add("EDGE_MAX: largest positive value and a place", extreme("EDGE_MAX", float(out.max())))
    checker.add("EDGE_MIN: largest negative value and a place", extreme("EDGE_MIN", float(out.min())))
    checker.add("EDGE_ZERO: a place of a zero", lambda case: case.expect(
        place_holds(given()["EDGE_ZERO"], 0.0), f"EDGE_ZERO = {given()['EDGE_ZERO']!r} is not a zero of the output"))


@part("hw2_cnn.conv_sigmoid_grads", "Gradients through a convolution followed by a sigmoid", 2,
      hint="dJ/dZ = dJ/dU * U * (1 - U); then conv2d_backward(dJ/dZ, cache) gives dJ/dX and dJ/dW.")
def grade_conv_sigmoid_grads(subject: Subject, checker: Checker) -> None:
    _require_handwritten(subject, checker, ["conv_sigmoid_grads"])
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
                _check_ops(checker, case, "conv_sigmoid_grads", outcome["ops"], outcome["mutated_args"])
                result = outcome["result"]
                if not case.expect(isinstance(result, tuple) and len(result) == 3, "should return (dJ_dZ, dJ_dW, dJ_dX)"):
                    return
                if not case.expect_tensor(f"{name} for x {describe_shape(x)}", result[index], expected[name], **FLOAT64):
                    return
        checker.add(f"{name} against autograd (float64) on {len(cases)} settings", run)


# ---------------------------------------------------------------------------------------------
# Section 3: strided 1-D convolution

CONV1D_SETTINGS = [(2, 7, 1, 5, 2), (3, 12, 2, 3, 1), (1, 11, 3, 4, 3), (2, 9, 2, 2, 2)]  # (C, L, F, K, stride)


def _conv1d_part(function: str, build):
    """A grader for one of the three conv1d functions; ``build(x, w, stride)`` gives (args, expected)."""
    def grader(subject: Subject, checker: Checker) -> None:
        _require_handwritten(subject, checker, [function])
        for channels, length, filters, kernel, stride in CONV1D_SETTINGS:
            x, w = checker.randn(channels, length), checker.randn(filters, channels, kernel)
            grad_out = checker.randn(filters, (length - kernel) // stride + 1)
            args, expected = build(x, w, grad_out, stride)

            def run(case: Case, args=args, expected=expected):
                outcome = subject.probe("call", name=function, args=args)
                _check_ops(checker, case, function, outcome["ops"], outcome["mutated_args"])
                case.expect_tensor("result", outcome["result"], expected, dtype=torch.float64, **FLOAT64)
            checker.add(f"x ({channels}, {length}), w ({filters}, {channels}, {kernel}), stride {stride}", run)
    return grader


def _agreed(ours, theirs):
    """PyTorch's value, once our reference agrees with it (a disagreement is our bug, not the student's)."""
    if not torch.allclose(ours.double(), theirs.double(), rtol=1e-10, atol=1e-10):
        raise AssertionError("the reference disagrees with PyTorch")
    return theirs


def _torch_conv1d(x, w, stride):
    return F.conv1d(x[None], w, stride=stride)[0]


def _conv1d_grads(x, w, grad_out, stride):
    x_ag, w_ag = x.clone().requires_grad_(), w.clone().requires_grad_()
    _torch_conv1d(x_ag, w_ag, stride).backward(grad_out)
    return x_ag.grad, w_ag.grad


part("hw2_cnn.conv1d_forward", "conv1d_forward", 1, hint="out[f, l] = sum_{c,k} w[f, c, k] x[c, l*stride + k].")(
    _conv1d_part("conv1d_forward", lambda x, w, g, s: ([x, w, s], _agreed(conv1d.conv1d_forward(x, w, s),
                                                                          _torch_conv1d(x, w, s)))))
part("hw2_cnn.conv1d_grad_w", "conv1d_grad_w", 1,
     hint="dW[f, c, k] = sum_l grad_out[f, l] x[c, l*stride + k].")(
    _conv1d_part("conv1d_grad_w", lambda x, w, g, s: ([x, g, w.shape[2], s], _agreed(
        conv1d.conv1d_grad_w(x, g, w.shape[2], s), _conv1d_grads(x, w, g, s)[1]))))
part("hw2_cnn.conv1d_grad_x", "conv1d_grad_x", 1,
     hint="every output position l sends w[f, c, k] * grad_out[f, l] back to input position l*stride + k.")(
    _conv1d_part("conv1d_grad_x", lambda x, w, g, s: ([w, g, x.shape[1], s], _agreed(
        conv1d.conv1d_grad_x(w, g, x.shape[1], s), _conv1d_grads(x, w, g, s)[0]))))


@part("hw2_cnn.conv1d_shapes", "Shapes of f_W(x) and its derivatives", 1,
      hint="A Jacobian has the output's shape followed by the shape of what it differentiates by.")
def grade_conv1d_shapes(subject: Subject, checker: Checker) -> None:
    expected = {"f": (1, 2), "df_dW": (1, 2, 1, 2, 5), "df_dx": (1, 2, 2, 7), "dl_dW": (1, 2, 5)}
    given = once(lambda: subject.probe("values", names=["CONV1D_SHAPES"])["CONV1D_SHAPES"])
    for key, shape in expected.items():
        def run(case: Case, key=key, shape=shape):
            answer = given()
            got = _as_tuple(answer.get(key)) if isinstance(answer, dict) else None
            case.expect(got == shape, f"CONV1D_SHAPES['{key}'] is {got!r}")
        checker.add(f"CONV1D_SHAPES['{key}']", run, 1 / len(expected))


# ---------------------------------------------------------------------------------------------
# Section 4: pooling

POOL_SETTINGS = [(2, None), (3, 1), ((2, 3), (1, 2)), (2, 3)]  # (kernel_size, stride)


def _pool_part(function: str, expected_of, positive: bool = False, p=None):
    def grader(subject: Subject, checker: Checker) -> None:
        _require_handwritten(subject, checker, [function])
        for (kernel, stride), dtype in zip(POOL_SETTINGS, (torch.float64, torch.float64, torch.float64, torch.float32)):
            x = (checker.rand(2, 3, 9, 8, dtype=dtype) + 0.1) if positive else checker.randn(2, 3, 9, 8, dtype=dtype)
            args = [x, kernel, stride] if p is None else [x, p, kernel, stride]
            expected = expected_of(x.double(), kernel, stride)

            def run(case: Case, args=args, expected=expected, dtype=dtype):
                outcome = subject.probe("call", name=function, args=args)
                _check_ops(checker, case, function, outcome["ops"], outcome["mutated_args"])
                result = outcome["result"]
                if function == "max_pool2d_forward":
                    if not case.expect(isinstance(result, tuple) and len(result) == 2, "should return (out, cache)"):
                        return
                    result = result[0]
                case.expect_tensor("out", result, expected, dtype=dtype, **(FLOAT32 if dtype == torch.float32 else FLOAT64))
            checker.add(f"x (2, 3, 9, 8) {str(dtype).replace('torch.', '')}, kernel {kernel}, stride {stride}", run)
    return grader


part("hw2_cnn.max_pool2d_forward", "max_pool2d_forward", 1, hint="stride defaults to the kernel size.")(
    _pool_part("max_pool2d_forward", lambda x, k, s: _agreed(pooling.max_pool2d_forward(x, k, s)[0], F.max_pool2d(x, k, s))))
part("hw2_cnn.avg_pool2d_forward", "avg_pool2d_forward", 1, hint="stride defaults to the kernel size.")(
    _pool_part("avg_pool2d_forward", lambda x, k, s: _agreed(pooling.avg_pool2d_forward(x, k, s), F.avg_pool2d(x, k, s))))
part("hw2_cnn.lp_pool2d_forward", "lp_pool2d_forward", 1, hint="(sum over the window of x**p) ** (1/p).")(
    _pool_part("lp_pool2d_forward", lambda x, k, s: _agreed(pooling.lp_pool2d_forward(x, 3, k, s), F.lp_pool2d(x, 3, k, s)),
               positive=True, p=3))


@part("hw2_cnn.max_pool2d_backward", "max_pool2d_backward", 1,
      hint="Each window's gradient goes to its maximum; among equal maxima, to the first in row-major order "
           "(as PyTorch); overlapping windows add up.")
def grade_max_pool2d_backward(subject: Subject, checker: Checker) -> None:
    _require_handwritten(subject, checker, ["max_pool2d_forward", "max_pool2d_backward"])
    for kernel, stride in [(2, None), (3, 1), (2, 1), ((2, 3), (1, 2))]:
        # Small integers make ties common, so the tie rule is exercised.
        x = checker.randint(0, 3, (2, 2, 7, 7)).double()
        x_ag = x.clone().requires_grad_()
        out = F.max_pool2d(x_ag, kernel, stride)
        dout = checker.randn(*out.shape)
        out.backward(dout)

        def run(case: Case, x=x, kernel=kernel, stride=stride, dout=dout, expected=x_ag.grad):
            outcome = subject.probe("forward_backward", forward="max_pool2d_forward", backward="max_pool2d_backward",
                                    args=[x, kernel, stride], dout=dout)
            _check_ops(checker, case, "max_pool2d_backward", outcome["ops"], outcome["mutated_args"])
            case.expect_tensor("dx", outcome["grads"], expected, dtype=torch.float64, **FLOAT64)
        checker.add(f"dx with tied maxima, x (2, 2, 7, 7), kernel {kernel}, stride {stride}", run)


@part("hw2_cnn.pooling_answers", "Pooling modules and max pooling of C", 1,
      hint="C_MAXPOOL: slide a 2x2 window with stride 1 over C and keep each maximum.")
def grade_pooling_answers(subject: Subject, checker: Checker) -> None:
    given = once(lambda: subject.probe("values", names=["POOL_MODULES", "C_MAXPOOL"]))
    for key, class_name in (("max", "MaxPool2d"), ("average", "AvgPool2d"), ("lp", "LPPool2d")):
        def run(case: Case, key=key, class_name=class_name):
            modules = given()["POOL_MODULES"]
            got = modules.get(key) if isinstance(modules, dict) else None
            case.expect(isinstance(got, str) and got.startswith("torch.nn") and got.endswith("." + class_name),
                        f"POOL_MODULES['{key}'] is {got!r}")
        checker.add(f"POOL_MODULES['{key}']", run, 1 / 6)
    expected = F.max_pool2d(_reference_c()[None, None], 2, 1)[0, 0]
    checker.add("C_MAXPOOL", lambda case: case.expect_tensor("C_MAXPOOL", given()["C_MAXPOOL"], expected, **FLOAT32), 0.5)


# ---------------------------------------------------------------------------------------------
# Section 5: building and training a CNN

@part("hw2_cnn.build_table_net", "build_table_net", 2,
      hint="The order is CONV3-10 (padding 1), ReLU, POOL-2 (max), CONV3-20 (stride 3, padding 2), ReLU, "
           "POOL-2, Flatten, Linear(180, 10).")
def grade_build_table_net(subject: Subject, checker: Checker) -> None:
    reference = build_table_net().double()
    for p in reference.parameters():
        p.data = checker.randn(*p.shape)
    images = checker.randn(3, 3, 32, 32)
    expected = reference(images).detach()
    probe = once(lambda: subject.probe("table_net", parameters=[p.detach() for p in reference.parameters()],
                                        images=images.float()))

    def structure(case: Case):
        facts = probe()
        case.expect(facts["type"] == "Sequential", f"returns a {facts['type']}, expected nn.Sequential")
        layers = ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
        case.expect(facts["layers"] == layers, f"layers are {facts['layers']}, expected {layers}")
        expected_shapes = [tuple(p.shape) for p in reference.parameters()]
        case.expect([tuple(s) for s in facts["shapes"]] == expected_shapes,
                    f"parameter shapes are {facts['shapes']}, expected {expected_shapes}")

    def behaviour(case: Case):
        output = probe()["output"]
        if case.expect(output is not None, "cannot load the table's parameters: the shapes differ"):
            case.expect_tensor("output with given parameters on (3, 3, 32, 32) images", output, expected, **FLOAT32)

    checker.add("an nn.Sequential with the table's layers and parameter shapes", structure)
    checker.add("computes the table network (strides, padding, pooling)", behaviour)


NONLINEAR = ("Relu", "Gelu", "Silu", "Elu", "LeakyRelu", "Tanh", "Sigmoid", "Hardtanh", "Mish", "Softplus",
             "Hardswish", "Prelu", "Selu", "Celu", "Threshold")
POOLS = ("MaxPool", "AvgPool", "AdaptiveAvgPool", "AdaptiveMaxPool", "MeanBackward")
CONVS = ("ConvolutionBackward", "MkldnnConvolutionBackward", "SlowConv", "CudnnConvolution")
LINEAR = ("AddmmBackward", "MmBackward", "LinearBackward")
NORMS = ("BatchNorm",)


def _count(graph: dict, names) -> int:
    return sum(count for op, count in graph.items() if any(name in op for name in names))


@part("hw2_cnn.convnet_contract", "ConvNet: interface and architecture", 3,
      hint="ConvNet(num_classes, in_channels) needs two or more convolutions, batch normalisation, a "
           "nonlinearity, pooling, a residual connection (add a block's input to its output) and a linear head.")
def grade_convnet_contract(subject: Subject, checker: Checker) -> None:
    default = once(lambda: subject.probe("inspect_model", name="ConvNet", kwargs={}, input_shape=[4, 3, 32, 32], seed=0))
    other = once(lambda: subject.probe("inspect_model", name="ConvNet", kwargs={"num_classes": 7, "in_channels": 1},
                                        input_shape=[4, 1, 32, 32], seed=0))

    def shape(facts_of, expected):
        def run(case: Case):
            output = facts_of()["output"]
            case.expect(isinstance(output, torch.Tensor) and tuple(output.shape) == expected,
                        f"forward returned {describe_shape(output) if isinstance(output, torch.Tensor) else type(output).__name__}, "
                        f"expected {expected}")
        return run

    def graph_has(names, minimum, what):
        def run(case: Case):
            found = _count(default()["graph"], names)
            case.expect(found >= minimum, f"found {found} {what} in the forward pass, expected at least {minimum}")
        return run

    checker.add("ConvNet() maps (4, 3, 32, 32) to logits (4, 10)", shape(default, (4, 10)))
    checker.add("ConvNet(num_classes=7, in_channels=1) maps (4, 1, 32, 32) to (4, 7)", shape(other, (4, 7)), 0.5)
    checker.add("at least two convolutions", graph_has(CONVS, 2, "convolution(s)"), 0.5)
    checker.add("batch normalisation", graph_has(NORMS, 1, "batch normalisation(s)"), 0.5)
    checker.add("a nonlinearity", graph_has(NONLINEAR, 1, "nonlinearit(ies)"), 0.25)
    checker.add("pooling", graph_has(POOLS, 1, "pooling layer(s)"), 0.25)
    checker.add("a fully connected head", graph_has(LINEAR, 1, "linear layer(s)"), 0.25)
    checker.add("a residual connection", lambda case: case.expect(
        default()["residual"], "no addition of two feature maps (x + f(x)) was found in the forward pass"), 0.5)


# The learning check: a correct small CNN reaches 65-85 % on the stand-in after 120 Adam steps of 32
# images (measured on the reference and on a minimal two-convolution network); chance is 10 %.
LEARN_STEPS, LEARN_BATCH, LEARN_RATE = 120, 32, 1e-3
LEARN_BARS = (0.30, 0.40, 0.50)


def standin_tensors(count: int, seed: int):
    """Stand-in images as normalised float32 (N, 3, 32, 32) tensors with their labels."""
    images, labels = make_images(count, seed)
    x = torch.tensor(images).permute(0, 3, 1, 2).float().div(255.0).sub(0.5).div(0.25)
    return x, torch.tensor(labels)


@part("hw2_cnn.convnet_learns", "ConvNet learns", 3,
      hint="Train your ConvNet on a few batches yourself and watch the loss fall; check the forward pass "
           "keeps the batch dimension and returns raw logits (no softmax before CrossEntropyLoss).")
def grade_convnet_learns(subject: Subject, checker: Checker) -> None:
    train_x, train_y = standin_tensors(1500, seed=int(checker.randint(0, 10_000, (1,))))
    test_x, test_y = standin_tensors(500, seed=int(checker.randint(10_000, 20_000, (1,))))
    trained = once(lambda: subject.probe("train_classifier", name="ConvNet", kwargs={}, images=train_x, labels=train_y,
                                          test_images=test_x, steps=LEARN_STEPS, batch_size=LEARN_BATCH,
                                          lr=LEARN_RATE, seed=0))

    def accuracy() -> float:
        logits = trained()["logits"]
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (len(test_y), 10):
            raise StudentError("the trained ConvNet did not return (N, 10) logits")
        return float((logits.argmax(dim=1) == test_y).double().mean())

    for bar in LEARN_BARS:
        def run(case: Case, bar=bar):
            acc = accuracy()
            case.expect(acc >= bar, f"held-out accuracy {acc:.1%} after {LEARN_STEPS} Adam steps (lr {LEARN_RATE}, "
                                    f"batch {LEARN_BATCH}) on synthetic 32x32 images; needs {bar:.0%}")
            case.evidence.append(f"held-out accuracy {acc:.1%}")
        checker.add(f"reaches {bar:.0%} held-out accuracy on a 10-class synthetic task after brief training", run)


@part("hw2_cnn.get_loss_and_correct", "get_loss_and_correct", 2,
      hint="Move the batch to the device, compute logits = model(images), loss = criterion(logits, labels), "
           "and count argmax(logits) == labels as a Python int.")
def grade_get_loss_and_correct(subject: Subject, checker: Checker) -> None:
    weight, bias = checker.randn(4, 12) * 0.5, checker.randn(4) * 0.5
    images, labels = checker.randn(16, 3, 2, 2), checker.randint(0, 4, (16,))
    w_ag = weight.clone().requires_grad_()
    logits = images.flatten(1) @ w_ag.T + bias
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    n_correct = int((logits.argmax(1) == labels).sum())
    facts = once(lambda: subject.probe("loss_and_correct", weight=weight, bias=bias, images=images, labels=labels))

    def loss_value(case: Case):
        got = facts()["loss"]
        if case.expect(isinstance(got, torch.Tensor) and got.numel() == 1, f"loss is a {facts()['loss_type']}, expected a scalar tensor"):
            case.expect_tensor("loss", got.reshape(()), loss.detach(), **FLOAT64)

    def graph(case: Case):
        got = facts()["weight_grad"]
        if case.expect(got is not None, "loss.backward() did not reach the model: return the criterion's tensor "
                                        "itself, not loss.item() or a detached copy"):
            case.expect_tensor("gradient of the returned loss", got, w_ag.grad, **FLOAT64)

    def count(case: Case):
        got = facts()
        case.expect(got["n_correct_type"] == "int", f"n_correct is a {got['n_correct_type']}, expected a Python int")
        case.expect(got["n_correct"] == n_correct, f"n_correct is {got['n_correct']!r}, expected {n_correct}")

    checker.add("loss value on a batch of 16", loss_value)
    checker.add("the loss keeps its graph (backward reaches the weights)", graph)
    checker.add("n_correct is the number of right predictions, as an int", count)


@part("hw2_cnn.step", "step", 2,
      hint="optimizer.zero_grad(), loss.backward(), optimizer.step(): without zeroing, the second step adds "
           "the first step's gradients again.")
def grade_step(subject: Subject, checker: Checker) -> None:
    weight, bias, lr = checker.randn(3, 8) * 0.5, checker.randn(3) * 0.5, 0.5
    batches = [(checker.randn(10, 8), checker.randint(0, 3, (10,))) for _ in range(2)]
    model = torch.nn.Linear(8, 3).double()
    with torch.no_grad():
        model.weight.copy_(weight)
        model.bias.copy_(bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    expected = []
    for images, labels in batches:
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
        expected.append([p.detach().clone() for p in model.parameters()])
    facts = once(lambda: subject.probe("two_steps", weight=weight, bias=bias, batches=batches, lr=lr))
    for index, title in enumerate(("the first step updates the weights by -lr * gradient",
                                   "the second step uses only the second loss's gradient (no stale gradients)")):
        def run(case: Case, index=index):
            for name, got, want in zip(("weight", "bias"), facts()["after"][index], expected[index]):
                case.expect_tensor(f"{name} after step {index + 1}", got, want, **FLOAT64)
        checker.add(title, run)
