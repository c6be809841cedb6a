"""The hidden side of the course: reference implementations, data, graders and instructor tools.

This package is installed where grading happens and never ships to students. Import submodules
explicitly (``course.reference.conv2d``, ``course.grade``): importing ``course`` itself loads nothing.
"""
