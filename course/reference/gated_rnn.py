"""Reference for hw2_rnn section 1: a gated recurrent network, its backward pass by hand, and a
measurement of how the gradient through the recurrence grows or shrinks with the sequence length.

The network, with x[t] in R^n, h[t] in R^m and h[0] = 0:

    c[t] = sigmoid(W_c x[t] + W_h h[t-1])
    h[t] = c[t] * h[t-1] + (1 - c[t]) * (W_x x[t])

Tensors index time from 0: ``h[:, t]`` holds h[t+1] and ``c[:, t]`` holds c[t+1]; h[0] is not stored.
"""

import math
from collections.abc import Iterable

import torch
from torch import nn


def gated_rnn_forward(
    x: torch.Tensor, W_c: torch.Tensor, W_h: torch.Tensor, W_x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the gated recurrence over a batch of sequences.

    Args:
        x: (B, T, n) inputs.
        W_c: (m, n) input-to-gate weights.
        W_h: (m, m) hidden-to-gate weights.
        W_x: (m, n) input-to-candidate weights.

    Returns:
        ``(h, c)``, each (B, T, m): ``h[:, t]`` is h[t+1] and ``c[:, t]`` is c[t+1].
    """
    batch_size, num_steps, _ = x.shape
    gate_input = x @ W_c.T  # (B, T, m)
    candidate = x @ W_x.T  # (B, T, m)
    h_prev = x.new_zeros(batch_size, W_h.shape[0])  # (B, m)
    hs, cs = [], []
    for t in range(num_steps):
        c_t = torch.sigmoid(gate_input[:, t] + h_prev @ W_h.T)  # (B, m)
        h_prev = c_t * h_prev + (1 - c_t) * candidate[:, t]  # (B, m)
        hs.append(h_prev)
        cs.append(c_t)
    return torch.stack(hs, dim=1), torch.stack(cs, dim=1)  # (B, T, m) each


class GatedRNN(nn.Module):
    """The gated recurrent network of hw2_rnn, without biases.

        c[t] = sigmoid(W_c x[t] + W_h h[t-1]),  h[t] = c[t] * h[t-1] + (1 - c[t]) * (W_x x[t]),  h[0] = 0

    Initialisation: every weight is drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), with fan_in = n for
    ``W_c`` and ``W_x`` and fan_in = m for ``W_h`` (the scheme of ``nn.RNN``/``nn.GRU``), so the gate's
    pre-activation has unit-order scale and the gates start near 1/2.

    Args:
        input_size: n, the size of x[t].
        hidden_size: m, the size of h[t] and c[t].

    Shape:
        - Input: (B, T, n), any floating dtype.
        - Output: ``(h, c)``, each (B, T, m), where index t holds h[t+1] and c[t+1].

    The weights are cast to the input's dtype and device inside ``forward`` (differentiably), so the
    outputs keep the input's dtype and device. The input is never modified.

    Examples::

        >>> rnn = GatedRNN(input_size=3, hidden_size=5)
        >>> h, c = rnn(torch.randn(2, 7, 3))
        >>> h.shape, c.shape
        (torch.Size([2, 7, 5]), torch.Size([2, 7, 5]))
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.W_c = nn.Parameter(torch.empty(hidden_size, input_size))
        self.W_h = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.W_x = nn.Parameter(torch.empty(hidden_size, input_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every weight from U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        for weight in (self.W_c, self.W_h, self.W_x):
            bound = 1 / math.sqrt(weight.shape[1])
            nn.init.uniform_(weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, n) -> (h, c), each (B, T, m)."""
        return gated_rnn_forward(x, self.W_c.to(x), self.W_h.to(x), self.W_x.to(x))


def gated_rnn_backward(
    x: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    W_c: torch.Tensor,
    W_h: torch.Tensor,
    W_x: torch.Tensor,
    dl_dh: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Gradients of the loss with respect to the weights, by backpropagation through time by hand.

    Going backwards from the last step, the gradient g reaching h[t] is ``dl_dh`` at t plus what
    flows back from h[t+1]. With u[t] = W_x x[t] and a[t] = W_c x[t] + W_h h[t-1]:

        dL/du[t] = g * (1 - c[t])
        dL/da[t] = g * (h[t-1] - u[t]) * c[t] * (1 - c[t])
        gradient passed to h[t-1] = g * c[t] + W_h^T dL/da[t]

    and the weight gradients are the outer products of these with x[t] (for W_x, W_c) and h[t-1]
    (for W_h), summed over the batch and time. No autograd is used.

    Args:
        x: (B, T, n) inputs of the forward pass.
        h: (B, T, m) hidden states of the forward pass (``h[:, t]`` is h[t+1]).
        c: (B, T, m) gates of the forward pass (``c[:, t]`` is c[t+1]).
        W_c: (m, n), W_h: (m, m), W_x: (m, n) the weights of the forward pass.
        dl_dh: (B, T, m) the gradient reaching each h[t+1] directly from the loss, not through later
            steps.

    Returns:
        ``{"W_x": (m, n), "W_c": (m, n), "W_h": (m, m)}``, in the dtype and on the device of ``x``.
    """
    with torch.no_grad():
        num_steps = x.shape[1]
        h_before = torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], dim=1)  # (B, T, m): h[t-1]
        candidate = x @ W_x.T  # (B, T, m): u[t]
        d_candidate = torch.empty_like(h)  # (B, T, m): dL/du[t]
        d_gate_input = torch.empty_like(h)  # (B, T, m): dL/da[t]
        from_later = torch.zeros_like(h[:, 0])  # (B, m): gradient reaching h[t] from h[t+1]
        for t in reversed(range(num_steps)):
            g = dl_dh[:, t] + from_later  # (B, m)
            c_t = c[:, t]  # (B, m)
            d_candidate[:, t] = g * (1 - c_t)
            d_gate_input[:, t] = g * (h_before[:, t] - candidate[:, t]) * c_t * (1 - c_t)
            from_later = g * c_t + d_gate_input[:, t] @ W_h  # (B, m)
        return {
            "W_x": torch.einsum("btm,btn->mn", d_candidate, x),
            "W_c": torch.einsum("btm,btn->mn", d_gate_input, x),
            "W_h": torch.einsum("btm,btk->mk", d_gate_input, h_before),
        }


def hidden_jacobian_norms(
    model: GatedRNN, x: torch.Tensor, lengths: Iterable[int], w_h_scale: float = 1.0
) -> torch.Tensor:
    """Frobenius norms of the Jacobian dh[T]/dh[1] for several sequence lengths T.

    The Jacobian is the product of the one-step Jacobians, computed analytically (no autograd):

        dh[t]/dh[t-1] = diag(c[t]) + diag((h[t-1] - W_x x[t]) * c[t] * (1 - c[t])) W_h
        dh[T]/dh[1] = dh[T]/dh[T-1] ... dh[2]/dh[1]      (the identity for T = 1)

    One forward pass over the longest length gives every shorter one, since dh[T]/dh[1] only depends
    on the first T steps. A norm that shrinks (grows) geometrically with T is a vanishing (exploding)
    gradient.

    Args:
        model: the network; its weights are read, never changed.
        x: (B, T_max, n) input sequences; one sequence (B = 1) is enough.
        lengths: the values of T, each in 1..T_max.
        w_h_scale: W_h is multiplied by this factor for the measurement (default 1.0: the model's own).

    Returns:
        (B, K) norms, one column per length in the order given (K = number of lengths).
    """
    lengths = list(lengths)
    if not all(1 <= length <= x.shape[1] for length in lengths):
        raise ValueError(f"every length must lie in 1..{x.shape[1]} (the steps of x), got {lengths}")
    with torch.no_grad():
        W_c, W_h, W_x = (weight.to(x) for weight in (model.W_c, model.W_h, model.W_x))
        W_h = w_h_scale * W_h
        h, c = gated_rnn_forward(x, W_c, W_h, W_x)  # (B, T, m) each
        h_before = torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], dim=1)  # (B, T, m): h[t-1]
        gate_slope = (h_before - x @ W_x.T) * c * (1 - c)  # (B, T, m)
        identity = torch.eye(model.hidden_size, dtype=x.dtype, device=x.device)
        jacobian = identity.expand(x.shape[0], -1, -1)  # (B, m, m): dh[1]/dh[1]
        norms_by_length = {1: torch.linalg.matrix_norm(jacobian)}  # (B,) per length
        for t in range(1, max(lengths)):  # index t holds step t+1
            step = torch.diag_embed(c[:, t]) + gate_slope[:, t, :, None] * W_h  # (B, m, m)
            jacobian = step @ jacobian  # (B, m, m): dh[t+1]/dh[1]
            norms_by_length[t + 1] = torch.linalg.matrix_norm(jacobian)
        return torch.stack([norms_by_length[length] for length in lengths], dim=1)  # (B, K)
