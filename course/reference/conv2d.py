"""2-D convolution (cross-correlation, as in PyTorch) by hand: forward and backward.

Vectorised with ``unfold``/``fold`` (im2col): every output position is one column of input taps, and
the convolution is a matrix product of the flattened filters with those columns.
"""

import torch
import torch.nn.functional as F

from ._args import pair


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """Cross-correlate ``x`` with the filters ``w``.

    ``out[n, f, i, j] = b[f] + sum_{c, p, q} w[f, c, p, q] * xpad[n, c, i*sh + p*dh, j*sw + q*dw]``
    with ``xpad`` the zero-padded input.

    Args:
        x: (N, C, H, W) input.
        w: (F, C, KH, KW) filters.
        b: (F,) biases, or None.
        stride, padding, dilation: int or ``(h, w)`` pair; padding is zeros on both sides.

    Returns:
        ``(out, cache)``: ``out`` is (N, F, H_out, W_out) with
        ``H_out = (H + 2*ph - dh*(KH - 1) - 1) // sh + 1`` (likewise W_out); ``cache`` holds what
        :func:`conv2d_backward` needs.
    """
    stride, padding, dilation = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    n, _, height, width = x.shape
    filters, _, kh, kw = w.shape
    out_h = (height + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (width + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    cols = F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)  # (N, C*KH*KW, L)
    out = w.reshape(filters, -1) @ cols  # (N, F, L)
    if b is not None:
        out = out + b.reshape(1, filters, 1)
    out = out.reshape(n, filters, out_h, out_w)
    cache = (x.shape, w, cols, b is not None, stride, padding, dilation)
    return out, cache


def conv2d_backward(dout, cache):
    """Gradients of a loss through :func:`conv2d_forward`.

    Args:
        dout: (N, F, H_out, W_out) gradient of the loss with respect to the output.
        cache: the second value returned by the forward pass.

    Returns:
        ``(dx, dw, db)``: (N, C, H, W), (F, C, KH, KW), and (F,) or None when the forward pass had
        no bias.
    """
    x_shape, w, cols, has_bias, stride, padding, dilation = cache
    filters, _, kh, kw = w.shape
    dout_cols = dout.reshape(dout.shape[0], filters, -1)  # (N, F, L)
    dw = torch.einsum("nfl,nkl->fk", dout_cols, cols).reshape(w.shape)
    dcols = w.reshape(filters, -1).transpose(0, 1) @ dout_cols  # (N, C*KH*KW, L)
    dx = F.fold(dcols, x_shape[2:], (kh, kw), dilation=dilation, padding=padding, stride=stride)
    db = dout.sum(dim=(0, 2, 3)) if has_bias else None
    return dx, dw, db
