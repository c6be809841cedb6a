"""hw2_cnn section 5, building and training a CNN: build_table_net, the student's ConvNet (its
interface and ingredients, read from its forward pass's autograd graph, and whether it learns), and
the training helpers get_loss_and_correct and step."""

import torch
import torch.nn.functional as F

from course.data import cifar
from course.data import grading as grading_data
from course.data.cifar_standin import make_images
from course.grade.checker import Case, Checker, describe_shape, once, part
from course.grade.subject import StudentError, Subject
from course.grade.tolerances import FLOAT32, FLOAT64
from course.reference.cnn_models import build_table_net

@part("hw2_cnn.build_table_net", "build_table_net", 1,
      hint="The order is CONV3-10 (padding 1), ReLU, POOL-2 (max), CONV3-20 (stride 3, padding 2), ReLU, "
           "POOL-2, Flatten, Linear(180, 10).")
def grade_build_table_net(subject: Subject, checker: Checker) -> None:
    """Two halves: an nn.Sequential whose children and parameter shapes are the table's, and its
    output on three random images with the grader's parameters loaded."""
    reference = build_table_net().double()
    for p in reference.parameters():
        p.data = checker.randn(*p.shape)
    images = checker.randn(3, 3, 32, 32)
    expected = reference(images).detach()
    probe = once(lambda: subject.probe("table_net", parameters=[p.detach() for p in reference.parameters()],
                                        images=images.float()))

    def structure(case: Case):
        facts = probe()
        case.expect(facts.type == "Sequential", f"returns a {facts.type}, expected nn.Sequential")
        layers = ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
        case.expect(facts.layers == layers, f"layers are {facts.layers}, expected {layers}")
        expected_shapes = [tuple(p.shape) for p in reference.parameters()]
        case.expect([tuple(s) for s in facts.shapes] == expected_shapes,
                    f"parameter shapes are {facts.shapes}, expected {expected_shapes}")

    def behaviour(case: Case):
        output = probe().output
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


@part("hw2_cnn.convnet_contract", "ConvNet: interface and architecture", 2.5,
      hint="ConvNet(num_classes, in_channels) needs two or more convolutions, batch normalisation, a "
           "nonlinearity, pooling, a residual connection (add a block's input to its output) and a linear head.")
def grade_convnet_contract(subject: Subject, checker: Checker) -> None:
    """A fresh ConvNet's forward pass on a seeded batch: the output shapes for the default and for 7
    classes on 1 channel, and, read from its autograd graph, two convolutions, batch normalisation,
    a nonlinearity, pooling, a linear head and a residual addition (weights as declared below)."""
    default = once(lambda: subject.probe("inspect_model", name="ConvNet", kwargs={}, input_shape=[4, 3, 32, 32], seed=0))
    other = once(lambda: subject.probe("inspect_model", name="ConvNet", kwargs={"num_classes": 7, "in_channels": 1},
                                        input_shape=[4, 1, 32, 32], seed=0))

    def shape(facts_of, expected):
        def run(case: Case):
            output = facts_of().output
            case.expect(isinstance(output, torch.Tensor) and tuple(output.shape) == expected,
                        f"forward returned {describe_shape(output) if isinstance(output, torch.Tensor) else type(output).__name__}, "
                        f"expected {expected}")
        return run

    def graph_has(names, minimum, what):
        def run(case: Case):
            found = _count(default().graph, names)
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
        default().residual, "no addition of two feature maps (x + f(x)) was found in the forward pass"), 0.5)


# Test accuracy of the submitted weights on CIFAR-10's test split, by tiers up to the assignment's
# target of 75 % in Colab: (bar, points of the part's 3).
ACCURACY_TIERS = ((0.30, 0.5), (0.50, 0.75), (0.65, 0.75), (0.75, 1.0))
# Without usable weights the grader trains a fresh ConvNet itself for a moment (a published learn-check)
# and gives at most half of the points: a correct small CNN reaches 65-85 % on the stand-in after 120
# Adam steps of 32 images (measured on the reference and on a minimal two-convolution network); chance
# is 10 %.
LEARN_STEPS, LEARN_BATCH, LEARN_RATE = 120, 32, 1e-3
LEARN_BARS = ((0.30, 0.5), (0.40, 0.5), (0.50, 0.5))  # (bar, points of 3)
SUBMITTED_MODEL = "convnet"  # the name submit_weights(convnet=model) stores the trained ConvNet under


def standin_tensors(count: int, seed: int):
    """Stand-in images as normalised float32 (N, 3, 32, 32) tensors with their labels."""
    images, labels = make_images(count, seed)
    x = torch.tensor(images).permute(0, 3, 1, 2).float().div(255.0).sub(0.5).div(0.25)
    return x, torch.tensor(labels)


def _weights_accuracy(subject: Subject) -> tuple[float, str]:
    """The submitted ConvNet's accuracy on the grading machine's CIFAR-10 test split, and what it was
    measured on. Raises StudentError when there are no weights or they do not fit the class."""
    submitted = subject.submission.model(SUBMITTED_MODEL)
    grading_data.prepare(subject.submission.data_root)
    split = cifar.read_split(subject.submission.data_root, train=False)
    scores = subject.probe("classify_with_weights", class_name="ConvNet", recorded=submitted.kwargs,
                           state=submitted.state, images=torch.from_numpy(split.images), mean=list(cifar.MEAN),
                           std=list(cifar.STD))
    if scores.logits is None:
        raise StudentError(f"the submitted weights do not fit your ConvNet class: {scores.problem}")
    logits = scores.logits
    expected = (len(split.labels), len(split.classes))
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != expected:
        raise StudentError(f"ConvNet({', '.join(f'{k}={v}' for k, v in scores.kwargs.items())}) with your weights returned "
                           f"{describe_shape(logits) if isinstance(logits, torch.Tensor) else type(logits).__name__} for "
                           f"{expected[0]} test images, expected logits {expected}")
    accuracy = float((logits.argmax(dim=1) == torch.from_numpy(split.labels)).double().mean())
    source = ("the generated stand-in for CIFAR-10" if split.standin else "the CIFAR-10 test split")
    return accuracy, f"{len(split.labels)} images of {source}"


@part("hw2_cnn.convnet_accuracy", "ConvNet: test accuracy of your trained weights", 3, kind="weights",
      hint="Train in Colab until the test accuracy is above 75 %, then run the last cell, submit_weights(convnet=model), "
           "save and download the notebook. Without weights, check that your ConvNet learns: the loss of a few "
           "batches must fall, and forward must return raw logits (no softmax before CrossEntropyLoss).")
def grade_convnet_accuracy(subject: Subject, checker: Checker) -> None:
    """The weights the notebook submitted, loaded into a fresh ConvNet of the student's class, classify
    the grading machine's CIFAR-10 test split: 0.5, 0.75, 0.75 and 1 point for 30, 50, 65 and 75 %.
    Without usable weights (none, undecodable, or not fitting the class) the part says why and the
    grader's own learn-check (a fresh ConvNet trained for LEARN_STEPS Adam steps on stand-in images)
    earns up to half of the points, 0.5 for each bar of LEARN_BARS."""
    try:
        accuracy, measured_on = _weights_accuracy(subject)
    except StudentError as error:
        _learn_check(subject, checker, problem=str(error))
        return
    for bar, points in ACCURACY_TIERS:
        def run(case: Case, bar=bar):
            case.evidence.append(f"test accuracy {accuracy:.1%} on {measured_on}")
            case.expect(accuracy >= bar, f"test accuracy {accuracy:.1%} on {measured_on}; needs {bar:.0%}")
        checker.add(f"your trained weights reach {bar:.0%} test accuracy", run, points)


def _learn_check(subject: Subject, checker: Checker, problem: str) -> None:
    """The fallback without usable weights: one failed case saying why, worth half of the part, and the
    learn-check's bars for the other half."""
    checker.add("trained weights submitted and evaluated", lambda case: case.fail(problem),
                sum(points for _, points in ACCURACY_TIERS) - sum(points for _, points in LEARN_BARS))
    train_x, train_y = standin_tensors(1500, seed=int(checker.randint(0, 10_000, (1,))))
    test_x, test_y = standin_tensors(500, seed=int(checker.randint(10_000, 20_000, (1,))))
    trained = once(lambda: subject.probe("train_classifier", name="ConvNet", kwargs={}, images=train_x, labels=train_y,
                                          test_images=test_x, steps=LEARN_STEPS, batch_size=LEARN_BATCH,
                                          lr=LEARN_RATE, seed=0))

    def accuracy() -> float:
        logits = trained().logits
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (len(test_y), 10):
            raise StudentError("the trained ConvNet did not return (N, 10) logits")
        return float((logits.argmax(dim=1) == test_y).double().mean())

    for bar, points in LEARN_BARS:
        def run(case: Case, bar=bar):
            acc = accuracy()
            case.expect(acc >= bar, f"held-out accuracy {acc:.1%} after {LEARN_STEPS} Adam steps (lr {LEARN_RATE}, "
                                    f"batch {LEARN_BATCH}) on synthetic 32x32 images; needs {bar:.0%}")
            case.evidence.append(f"held-out accuracy {acc:.1%}")
        checker.add(f"learn-check: a fresh ConvNet reaches {bar:.0%} held-out accuracy on a 10-class synthetic task "
                    f"after {LEARN_STEPS} Adam steps", run, points)


@part("hw2_cnn.get_loss_and_correct", "get_loss_and_correct", 1.5,
      hint="Move the batch to the device, compute logits = model(images), loss = criterion(logits, labels), "
           "and count argmax(logits) == labels as a Python int.")
def grade_get_loss_and_correct(subject: Subject, checker: Checker) -> None:
    """On a linear model and a batch of 16: the loss value, that the returned loss keeps its graph
    (backward reaches the weights), and n_correct as an int; a third each."""
    weight, bias = checker.randn(4, 12) * 0.5, checker.randn(4) * 0.5
    images, labels = checker.randn(16, 3, 2, 2), checker.randint(0, 4, (16,))
    w_ag = weight.clone().requires_grad_()
    logits = images.flatten(1) @ w_ag.T + bias
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    n_correct = int((logits.argmax(1) == labels).sum())
    facts = once(lambda: subject.probe("loss_and_correct", weight=weight, bias=bias, images=images, labels=labels))

    def loss_value(case: Case):
        got = facts().loss
        if case.expect(isinstance(got, torch.Tensor) and got.numel() == 1, f"loss is a {facts().loss_type}, expected a scalar tensor"):
            case.expect_tensor("loss", got.reshape(()), loss.detach(), **FLOAT64)

    def graph(case: Case):
        got = facts().weight_grad
        if case.expect(got is not None, "loss.backward() did not reach the model: return the criterion's tensor "
                                        "itself, not loss.item() or a detached copy"):
            case.expect_tensor("gradient of the returned loss", got, w_ag.grad, **FLOAT64)

    def count(case: Case):
        got = facts()
        case.expect(got.n_correct_type == "int", f"n_correct is a {got.n_correct_type}, expected a Python int")
        case.expect(got.n_correct == n_correct, f"n_correct is {got.n_correct!r}, expected {n_correct}")

    checker.add("loss value on a batch of 16", loss_value)
    checker.add("the loss keeps its graph (backward reaches the weights)", graph)
    checker.add("n_correct is the number of right predictions, as an int", count)


@part("hw2_cnn.step", "step", 1.5,
      hint="optimizer.zero_grad(), loss.backward(), optimizer.step(): without zeroing, the second step adds "
           "the first step's gradients again.")
def grade_step(subject: Subject, checker: Checker) -> None:
    """Two calls of step with plain SGD against the grader's own two steps: the first step, and the
    second without stale gradients; half each."""
    weight, bias, lr = checker.randn(3, 8) * 0.5, checker.randn(3) * 0.5, 0.5
    batches = [(checker.randn(10, 8), checker.randint(0, 3, (10,))) for _ in range(2)]
    expected, params = [], [weight, bias]
    for images, labels in batches:  # plain SGD by hand: p <- p - lr * dloss/dp, a fresh gradient each step
        leaves = [p.clone().requires_grad_() for p in params]
        grads = torch.autograd.grad(F.cross_entropy(F.linear(images, *leaves), labels), leaves)
        params = [p - lr * g for p, g in zip(params, grads)]
        expected.append(params)
    facts = once(lambda: subject.probe("two_steps", weight=weight, bias=bias, batches=batches, lr=lr))
    for index, title in enumerate(("the first step updates the weights by -lr * gradient",
                                   "the second step uses only the second loss's gradient (no stale gradients)")):
        def run(case: Case, index=index):
            for name, got, want in zip(("weight", "bias"), facts().after[index], expected[index]):
                case.expect_tensor(f"{name} after step {index + 1}", got, want, **FLOAT64)
        checker.add(title, run)
