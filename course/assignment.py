"""The assignment the package grades: its nbgrader id and its notebooks, named once for every layer."""

ASSIGNMENT = "hw2"
NOTEBOOKS = ("hw2_cnn", "hw2_rnn", "seq_classification")  # each has a grader module course.grade.<name>
