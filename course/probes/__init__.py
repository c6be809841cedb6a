"""Code that runs beside the student's code, inside the grading kernel: the probes.

Graders never touch a student's objects directly. They ask a *probe* to do one thing next to the
student's code (call a function, build and train a model, ...) and get plain data back: numbers,
strings, tensors, containers of them, and the typed result records the probes declare. During
protected grading the probe runs inside the student's kernel and its results cross back as files
(:mod:`.codec`); the grader then judges those values in its own process.

This package is the leaf of ``course``: it imports only the standard library, NumPy, torch and its
own modules (relative imports), because its sources are loaded into the kernel, under a private
package name, by :mod:`course.grade.transport`. ``MODULES`` lists what is loaded, in order.
"""

MODULES = ("codec", "runtime", "common", "hw2_cnn", "hw2_rnn", "seq_classification")

from . import codec, runtime, common, hw2_cnn, hw2_rnn, seq_classification  # noqa: E402,F401  (registers the probes and records)
