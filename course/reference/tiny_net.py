"""A tiny network, conv1d -> ReLU -> max-pool -> linear, and its gradients by hand.

The network, for ``x`` of length N and a kernel ``k`` of length K (valid, stride 1)::

    z[i] = sum_j k[j] x[i + j] + b          i = 0 .. N-K          (the seed's N = 5, K = 3: 3 entries)
    u = ReLU(z)
    v[i] = max(u[i], u[i + 1])              max pooling, kernel 2, stride 1 (2 entries)
    y_hat = sum_i w[i] v[i] + a
    loss = (y - y_hat)**2 / 2

Two rules fix the gradient where the functions have corners, as PyTorch does: ReLU's derivative at 0
is 0, and among equal maxima the whole gradient goes to the first of the window.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class TinyNetPass:
    """The forward pass of the tiny network, with where each max window sends its gradient.

    Fields:
        windows: (N-K+1, K) the input windows of the convolution.
        z: (N-K+1,) pre-activations; u: (N-K+1,) ReLU(z).
        first: for each max window, the position (into z) of its maximum, ties to the first.
        v: (N-K,) the pooled values; y_hat: () the output.
    """

    windows: torch.Tensor
    z: torch.Tensor
    u: torch.Tensor
    first: list[int]
    v: torch.Tensor
    y_hat: torch.Tensor


def tiny_net_forward(x, k, b, w, a) -> TinyNetPass:
    """The forward pass for x (N,), k (K,), b (), w (N-K,), a ()."""
    kernel, outputs = k.shape[0], x.shape[0] - k.shape[0] + 1
    windows = torch.stack([x[i:i + kernel] for i in range(outputs)])  # (N-K+1, K)
    z = windows @ k + b  # (N-K+1,)
    u = z.clamp(min=0)
    first = [i if u[i] >= u[i + 1] else i + 1 for i in range(outputs - 1)]
    v = u[first]  # (N-K,)
    return TinyNetPass(windows, z, u, first, v, w @ v + a)


def tiny_net_gradients(x, k, b, w, a, y) -> dict:
    """The gradients of the loss by hand (no autograd).

    Args:
        x: (N,) input; k: (K,) kernel; b: () bias of the convolution; w: (N-K,) weights of the linear
            layer; a: () its bias; y: () target.

    Returns:
        ``{"dy_hat": (), "a": (), "w": (N-K,), "z": (N-K+1,), "k": (K,), "b": ()}``: dL/dy_hat, then
        the gradients with respect to a, w, z, k and b, in the inputs' dtype.
    """
    forward = tiny_net_forward(x, k, b, w, a)
    dy_hat = forward.y_hat - y
    du = torch.zeros_like(forward.u)
    for window, position in enumerate(forward.first):
        du[position] += dy_hat * w[window]
    dz = du * (forward.z > 0)  # ReLU's derivative, 0 at 0
    return {"dy_hat": dy_hat, "a": dy_hat, "w": dy_hat * forward.v, "z": dz, "k": forward.windows.T @ dz, "b": dz.sum()}


def tiny_net_autograd(x, k, b, w, a, y) -> dict:
    """The same gradients by autograd through PyTorch's operators (``F.conv1d``, ``F.relu``,
    ``F.max_pool1d``, whose rules at the corners are the two above); keys as :func:`tiny_net_gradients`."""
    leaves = {name: t.detach().clone().requires_grad_() for name, t in (("x", x), ("k", k), ("b", b), ("w", w), ("a", a))}
    z = F.conv1d(leaves["x"][None, None], leaves["k"][None, None])[0, 0] + leaves["b"]  # (N-K+1,)
    z.retain_grad()
    v = F.max_pool1d(F.relu(z)[None], 2, stride=1)[0]  # (N-K,)
    y_hat = leaves["w"] @ v + leaves["a"]
    y_hat.retain_grad()
    ((y - y_hat) ** 2 / 2).backward()
    return {"dy_hat": y_hat.grad, "a": leaves["a"].grad, "w": leaves["w"].grad, "z": z.grad,
            "k": leaves["k"].grad, "b": leaves["b"].grad}
