"""hw2_cnn section 3, the strided 1-D convolution: conv1d_forward and its two derivatives against
PyTorch (the reference agreeing), and the shapes of the Jacobians."""

import torch
import torch.nn.functional as F

from course.grade.answers import shape_matches, shown
from course.grade.checker import Case, Checker, once, part
from course.grade.crosscheck import agreed
from course.grade.handwritten import check_ops, require_handwritten
from course.grade.subject import Subject
from course.grade.tolerances import FLOAT64
from course.reference import conv1d

SHAPE_OF = {"f": "f_W(x)", "df_dW": "the Jacobian df_W(x)/dW", "df_dx": "the Jacobian df_W(x)/dx", "dl_dW": "dl/dW"}
CONV1D_SETTINGS = [(2, 7, 1, 5, 2), (3, 12, 2, 3, 1), (1, 11, 3, 4, 3), (2, 9, 2, 2, 2)]  # (C, L, F, K, stride)


def _conv1d_part(function: str, build):
    """A grader for one of the three conv1d functions; ``build(x, w, stride)`` gives (args, expected)."""
    def grader(subject: Subject, checker: Checker) -> None:
        """The result against PyTorch (the reference agreeing) in float64 on the four settings of
        CONV1D_SETTINGS, a quarter each. A library convolution zeroes the part."""
        require_handwritten(subject, checker, [function])
        for channels, length, filters, kernel, stride in CONV1D_SETTINGS:
            x, w = checker.randn(channels, length), checker.randn(filters, channels, kernel)
            grad_out = checker.randn(filters, (length - kernel) // stride + 1)
            args, expected = build(x, w, grad_out, stride)

            def run(case: Case, args=args, expected=expected):
                outcome = subject.probe("call", name=function, args=args)
                check_ops(checker, case, function, outcome.ops, outcome.mutated_args, outcome.spawned)
                case.expect_tensor("result", outcome.result, expected, dtype=torch.float64, **FLOAT64)
            checker.add(f"x ({channels}, {length}), w ({filters}, {channels}, {kernel}), stride {stride}", run)
    return grader


def _torch_conv1d(x, w, stride):
    return F.conv1d(x[None], w, stride=stride)[0]


def _conv1d_grads(x, w, grad_out, stride):
    x_ag, w_ag = x.clone().requires_grad_(), w.clone().requires_grad_()
    _torch_conv1d(x_ag, w_ag, stride).backward(grad_out)
    return x_ag.grad, w_ag.grad


part("hw2_cnn.conv1d_forward", "conv1d_forward", 1, hint="out[f, l] = sum_{c,k} w[f, c, k] x[c, l*stride + k].")(
    _conv1d_part("conv1d_forward", lambda x, w, g, s: ([x, w, s], agreed(conv1d.conv1d_forward(x, w, s),
                                                                          _torch_conv1d(x, w, s)))))
part("hw2_cnn.conv1d_grad_w", "conv1d_grad_w", 1,
     hint="dW[f, c, k] = sum_l grad_out[f, l] x[c, l*stride + k].")(
    _conv1d_part("conv1d_grad_w", lambda x, w, g, s: ([x, g, w.shape[2], s], agreed(
        conv1d.conv1d_grad_w(x, g, w.shape[2], s), _conv1d_grads(x, w, g, s)[1]))))
part("hw2_cnn.conv1d_grad_x", "conv1d_grad_x", 1,
     hint="every output position l sends w[f, c, k] * grad_out[f, l] back to input position l*stride + k.")(
    _conv1d_part("conv1d_grad_x", lambda x, w, g, s: ([w, g, x.shape[1], s], agreed(
        conv1d.conv1d_grad_x(w, g, x.shape[1], s), _conv1d_grads(x, w, g, s)[0]))))


@part("hw2_cnn.conv1d_shapes", "Shapes of f_W(x) and its derivatives", 1,
      hint="A Jacobian has the output's shape followed by the shape of what it differentiates by.")
def grade_conv1d_shapes(subject: Subject, checker: Checker) -> None:
    """The four shapes of CONV1D_SHAPES, a quarter each: any sequence form of whole numbers, equal up to
    singleton dimensions (the single filter's F = 1 may be left out)."""
    expected = {"f": (1, 2), "df_dW": (1, 2, 1, 2, 5), "df_dx": (1, 2, 2, 7), "dl_dW": (1, 2, 5)}
    given = once(lambda: subject.values("CONV1D_SHAPES")["CONV1D_SHAPES"])
    for key, shape in expected.items():
        def run(case: Case, key=key, shape=shape):
            answer = given()
            got = answer.get(key) if isinstance(answer, dict) else None
            case.expect(shape_matches(got, shape), f"CONV1D_SHAPES['{key}'] is {shown(got)}, not the shape of "
                                                   f"{SHAPE_OF[key]}")
        checker.add(f"CONV1D_SHAPES['{key}']", run, 1 / len(expected))
