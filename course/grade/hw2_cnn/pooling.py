"""hw2_cnn section 4, pooling: max pooling forward and backward (ties and overlaps), average and LP
pooling against PyTorch (the reference agreeing), and the pooling answers."""

import torch
import torch.nn.functional as F

from course.grade.answers import names_module, shown
from course.grade.checker import Case, Checker, once, part
from course.grade.crosscheck import agreed
from course.grade.handwritten import check_ops, require_handwritten
from course.grade.hw2_cnn.given import reference_c
from course.grade.subject import Subject
from course.grade.tolerances import FLOAT32, FLOAT64, for_dtype
from course.reference import pooling

POOL_SETTINGS = [(2, None), (3, 1), ((2, 3), (1, 2)), (2, 3)]  # (kernel_size, stride)


def _pool_part(function: str, expected_of, positive: bool = False, p=None):
    """A grader for one pooling forward pass; ``expected_of(x, kernel, stride)`` gives PyTorch's
    output, positive inputs for LP pooling (``p`` its power)."""
    def grader(subject: Subject, checker: Checker) -> None:
        """The output against PyTorch (the reference agreeing) on a (2, 3, 9, 8) input for each
        (kernel, stride) of POOL_SETTINGS, the last one in float32; a quarter each. A library pooling
        routine zeroes the part."""
        require_handwritten(subject, checker, [function])
        for (kernel, stride), dtype in zip(POOL_SETTINGS, (torch.float64, torch.float64, torch.float64, torch.float32)):
            x = (checker.rand(2, 3, 9, 8, dtype=dtype) + 0.1) if positive else checker.randn(2, 3, 9, 8, dtype=dtype)
            args = [x, kernel, stride] if p is None else [x, p, kernel, stride]
            expected = expected_of(x.double(), kernel, stride)

            def run(case: Case, args=args, expected=expected, dtype=dtype):
                outcome = subject.probe("call", name=function, args=args)
                check_ops(checker, case, function, outcome.ops, outcome.mutated_args, outcome.spawned)
                result = outcome.result
                if function == "max_pool2d_forward":
                    if not case.expect(isinstance(result, tuple) and len(result) == 2, "should return (out, cache)"):
                        return
                    result = result[0]
                case.expect_tensor("out", result, expected, dtype=dtype, **for_dtype(dtype))
            checker.add(f"x (2, 3, 9, 8) {str(dtype).replace('torch.', '')}, kernel {kernel}, stride {stride}", run)
    return grader


part("hw2_cnn.max_pool2d_forward", "max_pool2d_forward", 1, hint="stride defaults to the kernel size.")(
    _pool_part("max_pool2d_forward", lambda x, k, s: agreed(pooling.max_pool2d_forward(x, k, s)[0], F.max_pool2d(x, k, s))))
part("hw2_cnn.avg_pool2d_forward", "avg_pool2d_forward", 1, hint="stride defaults to the kernel size.")(
    _pool_part("avg_pool2d_forward", lambda x, k, s: agreed(pooling.avg_pool2d_forward(x, k, s), F.avg_pool2d(x, k, s))))
part("hw2_cnn.lp_pool2d_forward", "lp_pool2d_forward", 1, hint="(sum over the window of x**p) ** (1/p).")(
    _pool_part("lp_pool2d_forward", lambda x, k, s: agreed(pooling.lp_pool2d_forward(x, 3, k, s), F.lp_pool2d(x, 3, k, s)),
               positive=True, p=3))


@part("hw2_cnn.max_pool2d_backward", "max_pool2d_backward", 1,
      hint="Each window's gradient goes to its maximum; among equal maxima, to the first in row-major order "
           "(as PyTorch); overlapping windows add up.")
def grade_max_pool2d_backward(subject: Subject, checker: Checker) -> None:
    """dx against autograd on F.max_pool2d in float64 on four kernel/stride settings with small
    integer inputs, so that tied maxima are common; a quarter each. Library pooling zeroes the part."""
    require_handwritten(subject, checker, ["max_pool2d_forward", "max_pool2d_backward"])
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
            check_ops(checker, case, "max_pool2d_backward", outcome.ops, outcome.mutated_args, outcome.spawned)
            case.expect_tensor("dx", outcome.grads, expected, dtype=torch.float64, **FLOAT64)
        checker.add(f"dx with tied maxima, x (2, 2, 7, 7), kernel {kernel}, stride {stride}", run)


@part("hw2_cnn.pooling_answers", "Pooling modules and max pooling of C", 1,
      hint="C_MAXPOOL: slide a 2x2 window with stride 1 over C and keep each maximum.")
def grade_pooling_answers(subject: Subject, checker: Checker) -> None:
    """POOL_MODULES' three classes (a sixth each): the class, an instance, or its name as
    ``torch.nn.X``, ``nn.X`` or ``X``; and C_MAXPOOL (a half) against F.max_pool2d of C, numbers in any
    form (a tensor or array of any dtype, nested lists), singleton dimensions aside."""
    given = once(lambda: subject.values("POOL_MODULES", "C_MAXPOOL"))
    for key, class_name in (("max", "MaxPool2d"), ("average", "AvgPool2d"), ("lp", "LPPool2d")):
        def run(case: Case, key=key, class_name=class_name):
            modules = given()["POOL_MODULES"]
            got = modules.get(key) if isinstance(modules, dict) else None
            case.expect(names_module(got, class_name), f"POOL_MODULES['{key}'] is {shown(got)}: expected the torch.nn "
                                                       "module class of that pooling (e.g. nn.Conv2d for a convolution)")
        checker.add(f"POOL_MODULES['{key}']", run, 1 / 6)
    expected = F.max_pool2d(reference_c()[None, None], 2, 1)[0, 0]
    checker.add("C_MAXPOOL", lambda case: case.expect_values("C_MAXPOOL", given()["C_MAXPOOL"], expected, **FLOAT32), 0.5)
