"""Max, average and power-average (LP) pooling by hand, over non-padded windows.

Every function takes ``x`` (N, C, H, W), a ``kernel_size`` (int or pair) and a ``stride`` (int or
pair, default: the kernel size) and pools each window ``x[n, c, i*sh : i*sh + kh, j*sw : j*sw + kw]``
into ``out[n, c, i, j]``, with ``H_out = (H - kh) // sh + 1`` (likewise W_out).
"""

import torch

from ._args import pair


def _windows(x, kernel_size, stride):
    """(N, C, H_out, W_out, kh*kw) view of the pooling windows in row-major order."""
    kh, kw = pair(kernel_size, "kernel_size")
    sh, sw = pair(kernel_size if stride is None else stride, "stride")
    windows = x.unfold(2, kh, sh).unfold(3, kw, sw)  # (N, C, H_out, W_out, kh, kw)
    return windows.reshape(*windows.shape[:4], kh * kw), (kh, kw), (sh, sw)


def max_pool2d_forward(x, kernel_size, stride=None):
    """Maximum of each window. Returns ``(out, cache)``, ``out`` (N, C, H_out, W_out)."""
    windows, kernel, strides = _windows(x, kernel_size, stride)
    out, argmax = windows.max(dim=-1)  # ties: the first maximum in row-major order, as PyTorch
    return out, (x.shape, argmax, kernel, strides)


def max_pool2d_backward(dout, cache):
    """Route each output gradient to the input position that held its window's maximum.

    Overlapping windows (stride < kernel) add their gradients where they share a maximum.
    Returns ``dx`` (N, C, H, W).
    """
    x_shape, argmax, (kh, kw), (sh, sw) = cache
    n, c, height, width = x_shape
    out_h, out_w = argmax.shape[2:]
    rows = torch.arange(out_h, device=dout.device).reshape(-1, 1) * sh + argmax // kw  # (N, C, H_out, W_out)
    cols = torch.arange(out_w, device=dout.device).reshape(1, -1) * sw + argmax % kw
    flat_index = (rows * width + cols).reshape(n, c, -1)
    dx = torch.zeros(n, c, height * width, dtype=dout.dtype, device=dout.device)
    dx.scatter_add_(2, flat_index, dout.reshape(n, c, -1))
    return dx.reshape(x_shape)


def avg_pool2d_forward(x, kernel_size, stride=None):
    """Mean of each window: (N, C, H_out, W_out)."""
    windows, _, _ = _windows(x, kernel_size, stride)
    return windows.mean(dim=-1)


def lp_pool2d_forward(x, p, kernel_size, stride=None):
    """``(sum of x**p over the window) ** (1/p)``, as ``nn.LPPool2d``.

    ``p = 1`` sums the window (average pooling times the window size); as ``p`` grows, the largest
    value dominates and the result tends to max pooling (for non-negative inputs).
    """
    windows, _, _ = _windows(x, kernel_size, stride)
    return windows.pow(p).sum(dim=-1).pow(1.0 / p)
