"""hw2_cnn section 1, convolution arithmetic: conv_output_size, conv_layer_cost and the worked
questions answered with them (output sizes, a rectangular kernel, the table network, the big layer, the
valid convolution)."""

import torch

from course.grade.answers import answer_case, as_integer, as_items, as_side, same_value, shape_matches, shown
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


@part("hw2_cnn.conv_output_size", "conv_output_size", 1.5,
      hint="out = floor((size + pad_before + pad_after - dilation*(kernel_size-1) - 1) / stride) + 1; "
           "raise ValueError when the dilated kernel is longer than the padded input.")
def grade_conv_output_size(subject: Subject, checker: Checker) -> None:
    """18 random settings in three groups (stride 1 without padding; strides and int padding;
    padding pairs and dilation), each group one case that passes when every size is the reference's
    (as any whole number: an int, a NumPy integer, ``5.0``, a one-element tensor); a fourth case:
    ValueError for three kernels that do not fit. Each case earns a quarter."""
    for title, settings in _arithmetic_cases(checker).items():
        def run(case: Case, settings=settings):
            for args in settings:
                got = subject.probe("call", name="conv_output_size", args=list(args)).result
                expected = conv_output_size(*args)
                case.expect(as_integer(got) == expected,
                            f"conv_output_size{args} returned {shown(got)}, expected {expected} (a whole number)")
        checker.add(f"output sizes, {title}", run)

    def refuses(case: Case):
        for args in [(3, 5), (6, 4, 1, 0, 2), (4, 3, 2, (0, 0), 3)]:
            outcome = subject.probe("call", name="conv_output_size", args=list(args), catch_errors=True)
            case.expect(outcome.error == "ValueError",
                        f"conv_output_size{args} (kernel does not fit) should raise ValueError, "
                        f"got {outcome.error or repr(outcome.result)}")
    checker.add("raises ValueError when the kernel does not fit", refuses)


@part("hw2_cnn.conv_layer_cost", "conv_layer_cost", 1.5,
      hint="params = F*C*K*K (+F with bias); every output value costs C*K*K multiplications.")
def grade_conv_layer_cost(subject: Subject, checker: Checker) -> None:
    """Five random layers (channels, size, filters, kernel, stride, padding, bias); one case per key
    of the result (out_shape, params, mults), each a third, passing when that key is right on all
    five: ``out_shape`` as any sequence of the three whole numbers (F, H_out, W_out) in that order,
    the counts as any whole number."""
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
                expected = conv_layer_cost(*args)[key]
                case.expect(same_value(got[key], expected),
                            f"'{key}' for in_shape={args[0]}, F={args[1]}, K={args[2]}, stride={args[3]}, "
                            f"padding={args[4]}, bias={args[5]} is {shown(got[key])}, expected {expected}")
        checker.add(f"'{key}' on 5 random layers", run, weight)


@part("hw2_cnn.output_size_answers", "Output sizes of the worked examples", 1,
      hint="Use conv_output_size along each axis.")
def grade_output_size_answers(subject: Subject, checker: Checker) -> None:
    """OUT_5x5 (one side, or both) and OUT_10x11 as (height, width); half each. Any sequence form
    (tuple, list, tensor, torch.Size) of whole numbers, singleton dimensions aside."""
    checker.add("OUT_5x5: 5x5 image, 3x3 kernel", answer_case(
        subject, "OUT_5x5", lambda v: same_value(v, 3) or shape_matches(v, (3, 3)), "one side length (a whole number)"))
    checker.add("OUT_10x11: 10x11 image, 5x5 kernel, stride 2", answer_case(
        subject, "OUT_10x11", lambda v: shape_matches(v, (3, 4)), "the pair (height, width)"))


@part("hw2_cnn.out_21x12", "Output size under a rectangular kernel", 0.5,
      hint="A 4x5 kernel has 4 rows and 5 columns: call conv_output_size(21, 4, stride=4) for the height and "
           "conv_output_size(12, 5, stride=4) for the width.")
def grade_out_21x12(subject: Subject, checker: Checker) -> None:
    """OUT_21x12, the (H_out, W_out) of a 21x12 image under a 4x5 kernel with stride 4 and no padding,
    against the reference's conv_output_size per axis: one case. Any sequence form of the two whole
    numbers in that order, singleton dimensions aside."""
    expected = (conv_output_size(21, 4, stride=4), conv_output_size(12, 5, stride=4))
    checker.add("OUT_21x12: 21x12 image, 4x5 kernel, stride 4", answer_case(
        subject, "OUT_21x12", lambda v: shape_matches(v, expected), "the pair (H_out, W_out), one size per axis"))


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
    W, C), singleton dimensions aside (a leading batch of one; a flat shape also as a plain number),
    and the parameter count as any whole number, against the reference network's layers. Rows and
    the table may be tuples or lists."""
    truth = _table_truth()
    answers = once(lambda: subject.values("TABLE_NET_ANSWERS")["TABLE_NET_ANSWERS"])
    for index, (layer, (shape, params)) in enumerate(zip(TABLE_LAYERS, truth)):
        def run(case: Case, index=index, layer=layer, shape=shape, params=params):
            rows = as_items(answers())
            if not case.expect(rows is not None and len(rows) == len(truth),
                               f"TABLE_NET_ANSWERS should list {len(truth)} (shape, params) rows, got {shown(answers())}"):
                return
            row = as_items(rows[index])
            if not case.expect(row is not None and len(row) == 2, f"row {index} = {shown(rows[index])} is not a pair "
                                                                  "(output_shape, parameters)"):
                return
            case.expect(shape_matches(row[0], shape, channels_last=True),
                        f"row {index} ({layer}): {shown(row[0])} is not the layer's output shape (C, H, W)")
            case.expect(same_value(row[1], params),
                        f"row {index} ({layer}): {shown(row[1])} is not the layer's parameter count")
        checker.add(f"row {index}: {layer}", run, 1 / len(truth))


@part("hw2_cnn.big_layer_answers", "The 205x205x10 -> 66x66x96 layer", 1,
      hint="Find K with conv_output_size(205, K, stride=3) == 66 (K = 10 uses every input row; 8 and 9 "
           "also give 66 because of the floor); then count weights, biases and multiplications for that K.")
def grade_big_layer_answers(subject: Subject, checker: Checker) -> None:
    """BIG_LAYER's kernel size (any of the sizes that give 66, as a whole number or a square pair, a
    third), and its params and mults (a third each, any whole-number form) for the student's kernel size
    when valid, else for the one that uses every row."""
    kernels = [k for k in range(1, 206) if conv_output_size(205, k, stride=3) == 66]
    answers = once(lambda: subject.values("BIG_LAYER")["BIG_LAYER"])

    def given(key):
        value = answers()
        return value.get(key) if isinstance(value, dict) else None

    def cost(key):  # judged for the student's kernel size when it is one of the valid ones
        kernel = as_side(given("kernel_size"))
        return conv_layer_cost((10, 205, 205), 96, kernel if kernel in kernels else max(kernels), stride=3)[key]

    checker.add("BIG_LAYER['kernel_size']", lambda case: case.expect(
        as_side(given("kernel_size")) in kernels, f"BIG_LAYER['kernel_size'] is {shown(given('kernel_size'))}: expected "
                                                  "a kernel side K with conv_output_size(205, K, stride=3) == 66"), 1 / 3)
    for key in ("params", "mults"):
        checker.add(f"BIG_LAYER['{key}']", lambda case, key=key: case.expect(
            same_value(given(key), cost(key)), f"BIG_LAYER['{key}'] is {shown(given(key))}, not the count of a layer "
                                               "with your kernel size (or, without a valid one, with K = 10)"), 1 / 3)


@part("hw2_cnn.valid_conv_answers", "The 48x64x10 valid convolution with ReLU", 1,
      hint="A valid 3x3 convolution shrinks each side by 2; ReLU keeps the shape and has no parameters.")
def grade_valid_conv_answers(subject: Subject, checker: Checker) -> None:
    """Each of the six keys of VALID_CONV, a sixth each; shapes as (C, H, W) or (H, W, C), singleton
    dimensions aside, in any sequence form; counts as any whole number."""
    cost = conv_layer_cost((10, 48, 64), 20, 3)
    expected = {"conv_shape": cost["out_shape"], "relu_shape": cost["out_shape"], "in_channels": 10,
                "out_channels": 20, "mults": cost["mults"], "params": cost["params"]}
    answers = once(lambda: subject.values("VALID_CONV")["VALID_CONV"])
    for key, value in expected.items():
        def run(case: Case, key=key, value=value):
            given = answers()
            got = given.get(key) if isinstance(given, dict) else None
            if key.endswith("shape"):
                case.expect(shape_matches(got, value, channels_last=True),
                            f"VALID_CONV['{key}'] is {shown(got)}, not the output shape (C, H, W)")
            else:
                case.expect(same_value(got, value), f"VALID_CONV['{key}'] is {shown(got)}, not the right count")
        checker.add(f"VALID_CONV['{key}']", run, 1 / len(expected))
