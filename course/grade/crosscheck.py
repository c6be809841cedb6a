"""The reference checked against PyTorch before it judges anyone: a disagreement is our bug, never
the student's, and becomes a grader error for the instructor."""

import torch


def agreed(ours: torch.Tensor, theirs: torch.Tensor, tolerance: float = 1e-10) -> torch.Tensor:
    """PyTorch's value ``theirs``, once our reference's ``ours`` agrees with it in float64.

    Raises:
        AssertionError: the two disagree beyond ``tolerance`` (absolute and relative).
    """
    if not torch.allclose(ours.double(), theirs.double(), rtol=tolerance, atol=tolerance):
        raise AssertionError("the reference disagrees with PyTorch")
    return theirs
