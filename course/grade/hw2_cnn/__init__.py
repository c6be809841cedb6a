"""Graders of hw2_cnn.ipynb: convolution arithmetic, convolution and pooling by hand, a CNN.

Every function part draws its inputs from the part's seeded generator, runs the student's code
through the subject, and compares with the reference (itself checked against PyTorch, so a
disagreement between the two is reported as our bug, never charged to the student). Gradients are
checked in float64. Hand-written layers may not use a library convolution or pooling routine
(:mod:`course.grade.handwritten`). One module per section of the notebook registers its parts.
"""

from course.grade.hw2_cnn import arithmetic, cnn, conv1d, conv2d, pooling  # noqa: F401  (registers the parts)
