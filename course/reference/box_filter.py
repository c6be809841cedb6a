"""The 3x3 box filter: a blur that averages each interior pixel's neighbourhood.

On the interior it is average pooling with kernel 3 and stride 1: ``out[1:-1, 1:-1]`` equals
``avg_pool2d(image, 3, stride=1)``, one window centred on every interior pixel.
"""

import torch

# The pooling the box filter equals on the interior: the torch.nn class, its kernel size and stride.
BOX_POOLING = {"pooling": "AvgPool2d", "kernel_size": 3, "stride": 1}


def box_filter(image: torch.Tensor) -> torch.Tensor:
    """Every interior pixel replaced by the mean of its 3x3 neighbourhood; the border kept.

    Args:
        image: (H, W), H and W at least 3; never modified.

    Returns:
        (H, W) in the image's dtype: ``out[i, j] = mean(image[i-1:i+2, j-1:j+2])`` for
        ``1 <= i <= H-2`` and ``1 <= j <= W-2``, ``out[i, j] = image[i, j]`` on the border.
    """
    height, width = image.shape
    total = sum(image[p:p + height - 2, q:q + width - 2] for p in range(3) for q in range(3))  # (H-2, W-2)
    out = image.clone()
    out[1:-1, 1:-1] = total / 9
    return out
