"""Reference for hw2_rnn section 2, "Echo": GRU models that repeat their input after a delay, and the
recipes that train them on a CPU in bounded time.

The data, its encoding, the rendering of an answer and the accuracy are defined in
:mod:`course.data.echo`.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from course.data import echo as data


class GRUMemory(nn.Module):
    """Echoes its input ``DELAY`` = 4 steps later: a one-layer GRU and a linear read-out.

    Args:
        hidden_size: the GRU's hidden size.

    Shape:
        - Input: (B, L, 27) one-hot symbols.
        - Output: (B, L, 27) logits; the argmax at step t should be the input at t - 4 (blank before).
    """

    def __init__(self, hidden_size: int):
        super().__init__()
        self.gru = nn.GRU(data.NUM_SYMBOLS, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, data.NUM_SYMBOLS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, L, 27) -> logits (B, L, 27)."""
        h, _ = self.gru(x)  # (B, L, hidden)
        return self.readout(h)  # (B, L, 27)

    def test_run(self, s: str) -> str:
        """The echo of ``s``: a string of the same length, blanks rendered as spaces."""
        return echo_strings(self, [s])[0]


class VariableDelayGRUMemory(nn.Module):
    """Echoes its input after a delay chosen per sequence, 0..max_delay.

    The delay is fed as a one-hot vector of ``max_delay + 1`` entries concatenated to the one-hot
    symbol at every step, so the GRU's input has 27 + max_delay + 1 features and the delay is visible
    at each step (no step has to carry it in the hidden state).

    Args:
        hidden_size: the GRU's hidden size.
        max_delay: the largest delay the model accepts.

    Shape:
        - Input: x (B, L, 27) one-hot symbols, delays (B,) int64 in 0..max_delay.
        - Output: (B, L, 27) logits; the argmax at step t should be the input at t - delays[b].
    """

    def __init__(self, hidden_size: int, max_delay: int):
        super().__init__()
        self.max_delay = max_delay
        self.gru = nn.GRU(data.NUM_SYMBOLS + max_delay + 1, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, data.NUM_SYMBOLS)

    def forward(self, x: torch.Tensor, delays: torch.Tensor) -> torch.Tensor:
        """x: (B, L, 27), delays: (B,) int64 -> logits (B, L, 27)."""
        if delays.min() < 0 or delays.max() > self.max_delay:
            raise ValueError(f"delays must lie in 0..{self.max_delay}, got {delays.tolist()}")
        delay_code = nn.functional.one_hot(delays, self.max_delay + 1).to(x)  # (B, D+1)
        delay_code = delay_code[:, None, :].expand(-1, x.shape[1], -1)  # (B, L, D+1)
        h, _ = self.gru(torch.cat([x, delay_code], dim=-1))  # (B, L, hidden)
        return self.readout(h)  # (B, L, 27)

    def test_run(self, s: str, delay: int) -> str:
        """The echo of ``s`` after ``delay`` steps: a string of the same length, blanks as spaces."""
        return echo_strings(self, [s], [delay])[0]


def echo_strings(model: nn.Module, strings: Sequence[str], delays: Sequence[int] | None = None) -> list[str]:
    """Every string's echo by one batched forward pass; the same answers as ``test_run`` one by one.

    The strings are padded with blanks at the end to a common length, run together, and each answer
    cut back to its string's length. Padding at the end cannot change earlier answers because the
    models are causal (a one-directional GRU).

    Args:
        model: a :class:`GRUMemory` (``delays`` None) or :class:`VariableDelayGRUMemory`.
        strings: the inputs, over a-z.
        delays: one delay per string for the variable-delay model.
    """
    longest = max(len(s) for s in strings)
    indices = torch.stack([data.encode(s.ljust(longest)) for s in strings])  # (B, L)
    weight = next(model.parameters())
    x = data.one_hot(indices, weight.dtype).to(weight.device)  # (B, L, 27)
    with torch.no_grad():
        if delays is None:
            logits = model(x)  # (B, L, 27)
        else:
            logits = model(x, torch.tensor(delays, dtype=torch.int64, device=weight.device))  # (B, L, 27)
    answers = logits.argmax(dim=-1)  # (B, L)
    return [data.decode(answer[: len(s)]) for answer, s in zip(answers, strings)]
