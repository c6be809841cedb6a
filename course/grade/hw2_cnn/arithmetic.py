"""hw2_cnn section 1, convolution arithmetic: conv_output_size, conv_layer_cost and the worked
questions answered with them (output sizes, the table network, the big layer, the valid convolution)."""

import torch

from course.grade.answers import answer_case, as_tuple, same_shape
from course.grade.checker import Case, Checker, once, part
from course.grade.subject import Subject
from course.reference.cnn_models import build_table_net
from course.reference.conv_arithmetic import conv_layer_cost, conv_output_size


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
    """18 random settings in three groups (stride 1 without padding; strides and int padding;
    padding pairs and dilation), each group one case that passes when every size is the reference's,
    as an int; a fourth case: ValueError for three kernels that do not fit. Each case earns a
    quarter."""
    for title, settings in _arithmetic_cases(checker).items():
        def run(case: Case, settings=settings):
            for args in settings:
                got = subject.probe("call", name="conv_output_size", args=list(args)).result
                expected = conv_output_size(*args)
                case.expect(got == expected and isinstance(got, int),
                            f"conv_output_size{args} returned {got!r}, expected {expected}")
        checker.add(f"output sizes, {title}", run)

    def refuses(case: Case):
        for args in [(3, 5), (6, 4, 1, 0, 2), (4, 3, 2, (0, 0), 3)]:
            outcome = subject.probe("call", name="conv_output_size", args=list(args), catch_errors=True)
            case.expect(outcome.error == "ValueError",
                        f"conv_output_size{args} (kernel does not fit) should raise ValueError, "
                        f"got {outcome.error or repr(outcome.result)}")
    checker.add("raises ValueError when the kernel does not fit", refuses)


@part("hw2_cnn.conv_layer_cost", "conv_layer_cost", 2,
      hint="params = F*C*K*K (+F with bias); every output value costs C*K*K multiplications.")
def grade_conv_layer_cost(subject: Subject, checker: Checker) -> None:
    """Five random layers (channels, size, filters, kernel, stride, padding, bias); one case per key
    of the result (out_shape, params, mults), each a third, passing when that key is right on all
    five."""
    g = checker.generator
    settings = []
    for _ in range(5):
        c, size, f, k = (int(torch.randint(lo, hi, (1,), generator=g)) for lo, hi in ((1, 16), (8, 64), (1, 64), (1, 6)))
        stride, padding, bias = int(torch.randint(1, 4, (1,), generator=g)), int(torch.randint(0, 3, (1,), generator=g)), bool(torch.randint(0, 2, (1,), generator=g))
        settings.append(((c, size, size + 3), f, k, stride, padding, bias))
    for key, weight in (("out_shape", 1.0), ("params", 1.0), ("mults", 1.0)):
        def run(case: Case, key=key):
            for args in settings:
                got = subject.probe("call", name="conv_layer_cost", args=list(args)).result
                if not case.expect(isinstance(got, dict) and key in got, f"conv_layer_cost{args} returned no '{key}'"):
                    continue
                value = tuple(got[key]) if key == "out_shape" and isinstance(got[key], (list, tuple)) else got[key]
                expected = conv_layer_cost(*args)[key]
                case.expect(value == expected, f"'{key}' for in_shape={args[0]}, F={args[1]}, K={args[2]}, "
                                               f"stride={args[3]}, padding={args[4]}, bias={args[5]} is {value!r}, expected {expected}")
        checker.add(f"'{key}' on 5 random layers", run, weight)


@part("hw2_cnn.output_size_answers", "Output sizes of the worked examples", 1,
      hint="Use conv_output_size along each axis.")
def grade_output_size_answers(subject: Subject, checker: Checker) -> None:
    """OUT_5x5 (one side, or both) and OUT_10x11 as (height, width); half each."""
    checker.add("OUT_5x5: 5x5 image, 3x3 kernel",
                answer_case(subject, "OUT_5x5", lambda v: as_tuple(v) in (3, (3, 3)), "one side length"))
    checker.add("OUT_10x11: 10x11 image, 5x5 kernel, stride 2",
                answer_case(subject, "OUT_10x11", lambda v: as_tuple(v) == (3, 4), "(height, width)"))


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
    """One case per row of TABLE_NET_ANSWERS (an eighth each): the output shape, as (C, H, W) or (H,
    W, C) (a flat shape also as a plain number), and the parameter count, against the reference
    network's layers."""
    truth = _table_truth()
    answers = once(lambda: subject.values("TABLE_NET_ANSWERS")["TABLE_NET_ANSWERS"])
    for index, (layer, (shape, params)) in enumerate(zip(TABLE_LAYERS, truth)):
        def run(case: Case, index=index, shape=shape, params=params):
            rows = answers()
            if not case.expect(isinstance(rows, (list, tuple)) and len(rows) == len(truth),
                               f"TABLE_NET_ANSWERS should list {len(truth)} (shape, params) rows"):
                return
            row = rows[index]
            ok = isinstance(row, (list, tuple)) and len(row) == 2
            case.expect(ok and (same_shape(row[0], shape) or (len(shape) == 1 and as_tuple(row[0]) in (shape, shape[0])))
                        and row[1] == params, f"row {index} = {row!r} is not right")
        checker.add(f"row {index}: {layer}", run, 1 / len(truth))


@part("hw2_cnn.big_layer_answers", "The 205x205x10 -> 66x66x96 layer", 1,
      hint="Find K with conv_output_size(205, K, stride=3) == 66 (K = 10 uses every input row; 8 and 9 "
           "also give 66 because of the floor); then count weights, biases and multiplications for that K.")
def grade_big_layer_answers(subject: Subject, checker: Checker) -> None:
    """BIG_LAYER's kernel size (any of the sizes that give 66, a third), and its params and mults (a
    third each) for the student's kernel size when valid, else for the one that uses every row."""
    kernels = [k for k in range(1, 206) if conv_output_size(205, k, stride=3) == 66]
    answers = once(lambda: subject.values("BIG_LAYER")["BIG_LAYER"])

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
    """Each of the six keys of VALID_CONV, a sixth each; shapes as (C, H, W) or (H, W, C)."""
    cost = conv_layer_cost((10, 48, 64), 20, 3)
    expected = {"conv_shape": cost["out_shape"], "relu_shape": cost["out_shape"], "in_channels": 10,
                "out_channels": 20, "mults": cost["mults"], "params": cost["params"]}
    answers = once(lambda: subject.values("VALID_CONV")["VALID_CONV"])
    for key, value in expected.items():
        def run(case: Case, key=key, value=value):
            given = answers()
            got = given.get(key) if isinstance(given, dict) else None
            ok = same_shape(got, value) if key.endswith("shape") else got == value
            case.expect(ok, f"VALID_CONV['{key}'] is {got!r}")
        checker.add(f"VALID_CONV['{key}']", run, 1 / len(expected))
