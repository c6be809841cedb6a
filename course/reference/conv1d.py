"""Strided 1-D convolution of a single example, and its two derivatives.

Shapes: ``x`` (C, L), ``w`` (F, C, K), ``out`` (F, L_out) with ``L_out = (L - K) // stride + 1``
(no padding, no bias). ``out[f, l] = sum_{c, k} w[f, c, k] * x[c, l*stride + k]``.
"""

import torch


def conv1d_forward(x, w, stride: int = 1):
    """``f_W(x)``: (C, L) input, (F, C, K) filters -> (F, L_out) output."""
    windows = x.unfold(1, w.shape[2], stride)  # (C, L_out, K)
    return torch.einsum("clk,fck->fl", windows, w)


def conv1d_grad_w(x, grad_out, kernel_size: int, stride: int = 1):
    """``dl/dW`` (F, C, K) from the input (C, L) and the upstream gradient ``dl/d out`` (F, L_out).

    ``dW[f, c, k] = sum_l grad_out[f, l] * x[c, l*stride + k]``: the input cross-correlated with the
    upstream gradient dilated by ``stride``.
    """
    windows = x.unfold(1, kernel_size, stride)  # (C, L_out, K)
    return torch.einsum("fl,clk->fck", grad_out, windows)


def conv1d_grad_x(w, grad_out, length: int, stride: int = 1):
    """``dl/dx`` (C, length) from the filters (F, C, K) and the upstream gradient (F, L_out).

    Every output position ``l`` sends ``w[f, c, k] * grad_out[f, l]`` back to input ``l*stride + k``.
    """
    channels, kernel_size = w.shape[1], w.shape[2]
    out_len = grad_out.shape[1]
    contributions = torch.einsum("fck,fl->clk", w, grad_out).reshape(channels, -1)  # (C, L_out*K)
    positions = (torch.arange(out_len, device=w.device)[:, None] * stride
                 + torch.arange(kernel_size, device=w.device)[None, :]).reshape(-1)  # (L_out*K,)
    dx = torch.zeros(channels, length, dtype=contributions.dtype, device=w.device)
    return dx.index_add(1, positions, contributions)
