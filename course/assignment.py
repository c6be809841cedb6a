"""The assignment the package grades: its nbgrader id, its notebooks and where its reference run is kept,
named once for every layer."""

import os

ASSIGNMENT = "hw2"
NOTEBOOKS = ("hw2_cnn", "hw2_rnn", "seq_classification")  # each has a grader module course.grade.<name>
REFERENCE_FOLDER = os.path.join("reports", "reference")  # the reference run: <root>/reports/reference/<notebook>.ipynb
