"""Running student code confined: a Jupyter kernel that sees only what grading needs."""
