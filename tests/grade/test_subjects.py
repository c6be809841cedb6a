"""Do probes behave the same in-process and across the codec, and are student failures told apart?"""

import sys
import threading
import types

import numpy as np
import pytest
import torch

from course.grade.checker import PARTS, Checker, grade_part, part
from course.grade.result import Status
from course.grade.subject import LocalSubject, StudentError
from course.grade.transport import roundtrip
from course.probes.codec import Unencodable


def test_does_the_codec_carry_plain_data_and_tensor_facts():
    value = {"a": (1, 2.5, None, True, "s"), "t": torch.arange(6, dtype=torch.float32).reshape(2, 3).requires_grad_(),
             "h": torch.ones(2, dtype=torch.bfloat16), "n": np.float64(3.0), "list": [np.arange(3)]}
    back = roundtrip(value)
    assert back["a"] == (1, 2.5, None, True, "s") and back["n"] == 3.0
    assert torch.equal(back["t"], value["t"].detach()) and back["t"].facts.requires_grad
    assert back["h"].dtype == torch.bfloat16 and np.array_equal(back["list"][0], np.arange(3))


def test_does_the_codec_refuse_to_carry_objects():
    assert isinstance(roundtrip({"x": object()})["x"], Unencodable)


def test_are_inputs_handed_to_student_code_copies():
    def scribble(x):
        x.zero_()
        return x.sum()
    x = torch.ones(3)
    outcome = LocalSubject({"scribble": scribble}).probe("call", name="scribble", args=[x])
    assert outcome.mutated_args == [0] and torch.equal(x, torch.ones(3))


def test_does_a_probe_run_while_another_thread_imports_modules():
    """The probe's package is loaded and removed again around every call; a student's thread (or another
    grading thread) that imports meanwhile must not break the call."""
    stop, calls = threading.Event(), 0

    def importer():
        while not stop.is_set():
            for i in range(50):
                sys.modules[f"_churn_{i}"] = types.ModuleType(f"_churn_{i}")
            for i in range(50):
                del sys.modules[f"_churn_{i}"]

    churn, interval = threading.Thread(target=importer), sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: mid-way through any loop of the call
    churn.start()
    try:
        for calls in range(1, 201):
            outcome = LocalSubject({"double": lambda x: 2 * x}).probe("call", name="double", args=[torch.ones(2)])
            assert torch.equal(outcome.result, 2 * torch.ones(2))
    finally:
        stop.set()
        churn.join()
        sys.setswitchinterval(interval)
    assert calls == 200


def test_is_a_student_exception_reported_with_its_line():
    def broken(x):
        return x.nope
    with pytest.raises(StudentError, match="AttributeError"):
        LocalSubject({"broken": broken}).probe("call", name="broken", args=[torch.ones(1)])


def test_is_a_missing_name_reported_as_such():
    with pytest.raises(StudentError, match="not defined"):
        LocalSubject({}).probe("call", name="conv2d_forward")


@pytest.fixture
def toy_parts():
    names = []

    def register(name, grader):
        part(name, name, 2, hint="a hint")(grader)
        names.append(name)

    yield register
    for name in names:
        PARTS.pop(name)


def test_does_a_student_error_fail_only_its_case(toy_parts):
    def grader(subject, checker: Checker):
        checker.add("raises", lambda case: subject.probe("call", name="missing"))
        checker.add("passes", lambda case: case.expect(True, ""))
    toy_parts("toy.partial", grader)
    result = grade_part("toy.partial", LocalSubject({}))
    assert result.status is Status.GRADED and result.fraction == 0.5 and result.points(2) == 1.0
    assert "Hint: a hint" in result.report(2)


def test_is_a_bug_in_a_grader_reported_as_a_grader_error(toy_parts):
    def grader(subject, checker):
        checker.add("buggy", lambda case: 1 / 0)
    toy_parts("toy.buggy", grader)
    result = grade_part("toy.buggy", LocalSubject({}))
    assert result.status is Status.GRADER_ERROR and "ZeroDivisionError" in result.note
    assert result.points(2) == 0 and "not your fault" in result.report(2)


def test_is_an_unknown_part_a_grader_error():
    assert grade_part("hw2_cnn.no_such_part", LocalSubject({})).status is Status.GRADER_ERROR
