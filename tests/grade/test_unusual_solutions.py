"""Do correct solutions written differently (plain loops, NumPy) get full marks, and in what time?"""

import time

import numpy as np
import pytest
import torch

from course.grade.checker import PARTS, find_part, grade_part
from course.grade.subject import LocalSubject


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def loop_conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """Six nested Python loops, element by element."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    n, c, hh, ww = x.shape
    f, _, kh, kw = w.shape
    ho, wo = (hh + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (ww + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = torch.zeros(n, f, ho, wo, dtype=x.dtype)
    for i in range(n):
        for o in range(f):
            for r in range(ho):
                for s in range(wo):
                    total = 0.0 if b is None else float(b[o])
                    for ch in range(c):
                        for p in range(kh):
                            for q in range(kw):
                                y, z = r * sh + p * dh - ph, s * sw + q * dw - pw
                                if 0 <= y < hh and 0 <= z < ww:
                                    total += float(x[i, ch, y, z]) * float(w[o, ch, p, q])
                    out[i, o, r, s] = total
    return out, (x, w, b, (sh, sw), (ph, pw), (dh, dw))


def loop_conv2d_backward(dout, cache):
    x, w, b, (sh, sw), (ph, pw), (dh, dw) = cache
    dx, dwt = torch.zeros_like(x), torch.zeros_like(w)
    n, f, ho, wo = dout.shape
    for i in range(n):
        for o in range(f):
            for r in range(ho):
                for s in range(wo):
                    g = dout[i, o, r, s]
                    for ch in range(x.shape[1]):
                        for p in range(w.shape[2]):
                            for q in range(w.shape[3]):
                                y, z = r * sh + p * dh - ph, s * sw + q * dw - pw
                                if 0 <= y < x.shape[2] and 0 <= z < x.shape[3]:
                                    dx[i, ch, y, z] += g * w[o, ch, p, q]
                                    dwt[o, ch, p, q] += g * x[i, ch, y, z]
    return dx, dwt, (None if b is None else dout.sum(dim=(0, 2, 3)))


def numpy_windows(x, kernel_size, stride):
    kh, kw = pair(kernel_size)
    sh, sw = pair(kernel_size if stride is None else stride)
    a = x.detach().cpu().numpy()
    view = np.lib.stride_tricks.sliding_window_view(a, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    return view.reshape(*view.shape[:4], kh * kw), (kh, kw), (sh, sw)


def numpy_max_pool2d_forward(x, kernel_size, stride=None):
    windows, kernel, strides = numpy_windows(x, kernel_size, stride)
    return torch.from_numpy(windows.max(axis=-1).copy()).to(x.dtype), (x.shape, windows.argmax(axis=-1), kernel, strides, x.dtype)


def numpy_max_pool2d_backward(dout, cache):
    shape, argmax, (kh, kw), (sh, sw), dtype = cache
    dx = np.zeros(shape)
    g = dout.numpy()
    for index in np.ndindex(*argmax.shape):
        n, c, i, j = index
        a = argmax[index]
        dx[n, c, i * sh + a // kw, j * sw + a % kw] += g[index]
    return torch.from_numpy(dx).to(dtype)


def numpy_avg_pool2d_forward(x, kernel_size, stride=None):
    return torch.from_numpy(numpy_windows(x, kernel_size, stride)[0].mean(axis=-1).copy()).to(x.dtype)


def numpy_lp_pool2d_forward(x, p, kernel_size, stride=None):
    windows = numpy_windows(x, kernel_size, stride)[0].astype(np.float64)
    return torch.from_numpy((windows ** p).sum(axis=-1) ** (1.0 / p)).to(x.dtype)


def loop_conv1d_forward(x, w, stride=1):
    f, c, k = w.shape
    out_len = (x.shape[1] - k) // stride + 1
    return torch.tensor([[sum(float(w[o, ch, t] * x[ch, l * stride + t]) for ch in range(c) for t in range(k))
                          for l in range(out_len)] for o in range(f)], dtype=x.dtype)


def loop_conv1d_grad_w(x, grad_out, kernel_size, stride=1):
    return torch.tensor([[[sum(float(grad_out[o, l] * x[ch, l * stride + t]) for l in range(grad_out.shape[1]))
                           for t in range(kernel_size)] for ch in range(x.shape[0])] for o in range(grad_out.shape[0])],
                        dtype=x.dtype)


def loop_conv1d_grad_x(w, grad_out, length, stride=1):
    dx = [[0.0] * length for _ in range(w.shape[1])]
    for o in range(w.shape[0]):
        for l in range(grad_out.shape[1]):
            for ch in range(w.shape[1]):
                for t in range(w.shape[2]):
                    dx[ch][l * stride + t] += float(w[o, ch, t] * grad_out[o, l])
    return torch.tensor(dx, dtype=w.dtype)


UNUSUAL = {
    "hw2_cnn.conv2d_forward": {"conv2d_forward": loop_conv2d_forward},
    "hw2_cnn.conv2d_backward": {"conv2d_forward": loop_conv2d_forward, "conv2d_backward": loop_conv2d_backward},
    "hw2_cnn.max_pool2d_forward": {"max_pool2d_forward": numpy_max_pool2d_forward},
    "hw2_cnn.max_pool2d_backward": {"max_pool2d_forward": numpy_max_pool2d_forward,
                                    "max_pool2d_backward": numpy_max_pool2d_backward},
    "hw2_cnn.avg_pool2d_forward": {"avg_pool2d_forward": numpy_avg_pool2d_forward},
    "hw2_cnn.lp_pool2d_forward": {"lp_pool2d_forward": numpy_lp_pool2d_forward},
    "hw2_cnn.conv1d_forward": {"conv1d_forward": loop_conv1d_forward},
    "hw2_cnn.conv1d_grad_w": {"conv1d_grad_w": loop_conv1d_grad_w},
    "hw2_cnn.conv1d_grad_x": {"conv1d_grad_x": loop_conv1d_grad_x},
}


@pytest.mark.parametrize("part_id", sorted(UNUSUAL))
def test_does_an_unusual_correct_solution_get_full_marks(part_id):
    find_part(part_id)
    started = time.perf_counter()
    result = grade_part(part_id, LocalSubject(dict(UNUSUAL[part_id])))
    seconds = time.perf_counter() - started
    assert result.fraction == 1.0, result.report(PARTS[part_id].points)
    print(f"{part_id}: graded in {seconds:.1f} s (probe limit in grading: 300 s)")
