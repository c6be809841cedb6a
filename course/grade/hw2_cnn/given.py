"""What hw2_cnn gives its students: the worked examples' images and kernels (the notebook's cells hold
the same literals), and the hint shared by the hand-written layers."""

import torch

from course.reference import conv2d

GIVEN_A = [[1, 2, 0, 1, 3], [0, 1, 3, 2, 1], [2, 1, 0, 1, 0], [1, 0, 2, 3, 1], [3, 1, 1, 0, 2]]
GIVEN_B = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
GIVEN_X = [[0, 0, 0, 5, 5], [0, 0, 0, 5, 5], [0, 0, 3, 5, 5], [9, 9, 3, 0, 0], [9, 9, 3, 0, 0], [9, 9, 9, 9, 9]]
GIVEN_W = [[1, -1], [1, -1]]

HAND_WRITTEN_HINT = ("The grader calls your function on random inputs of several shapes; compare your "
                     "output with torch.nn.functional on the same inputs to find the case that differs.")


def given_tensor(rows) -> torch.Tensor:
    """A given image or kernel (a list of rows) as a float64 (H, W) tensor."""
    return torch.tensor(rows, dtype=torch.float64)


def reference_c() -> torch.Tensor:
    """C = A (*) B, the (3, 3) worked answer of section 2 (max-pooled again in section 4)."""
    c, _ = conv2d.conv2d_forward(given_tensor(GIVEN_A)[None, None], given_tensor(GIVEN_B)[None, None])
    return c[0, 0]
