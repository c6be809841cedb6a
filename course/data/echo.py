"""Data of hw2_rnn section 2, "Echo": random strings and the same strings delayed.

A string over a-z is encoded as symbol indices, blank = 0 and a..z = 1..26, and fed one-hot with
``NUM_SYMBOLS = 27`` symbols. The target at step t is the input at step t - delay, blank for the first
``delay`` steps. The fixed-delay task uses ``DELAY = 4``; the variable-delay task draws a delay in
0..``MAX_DELAY`` per sequence.

Rendering: a model's answer for an input string s of length L is a string of length L in which blank
is rendered as a space, so a perfect model answers ``' ' * delay + s[:L - delay]``
(:func:`expected_output`). Character accuracy (:func:`character_accuracy`) counts only the echoed
positions t >= delay.

Every random function takes a ``torch.Generator`` and never touches the global random state.
"""

import string
from collections.abc import Sequence

import torch

SYMBOLS = " " + string.ascii_lowercase  # index i is rendered as SYMBOLS[i]; blank is a space
BLANK = 0
NUM_SYMBOLS = len(SYMBOLS)  # 27
DELAY = 4  # the delay of the fixed-delay task
MAX_DELAY = 8  # the variable-delay task draws delays in 0..MAX_DELAY
TEST_MIN_LENGTH, TEST_MAX_LENGTH = 15, 25  # graded strings have a length in this range, both included


def encode(s: str) -> torch.Tensor:
    """Symbol indices of a string: ' ' (blank) -> 0, 'a'..'z' -> 1..26. Returns (L,) int64."""
    unknown = sorted(set(s) - set(SYMBOLS))
    if unknown:
        raise ValueError(f"cannot encode {unknown}: only a-z and ' ' (blank) are allowed")
    return torch.tensor([SYMBOLS.index(ch) for ch in s], dtype=torch.int64)


def decode(indices: torch.Tensor) -> str:
    """The string of symbol indices (L,), blank rendered as a space; the inverse of :func:`encode`."""
    return "".join(SYMBOLS[i] for i in indices.tolist())


def one_hot(indices: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """indices: (..., L) int64 -> (..., L, 27) one-hot vectors of ``dtype``."""
    return torch.nn.functional.one_hot(indices, NUM_SYMBOLS).to(dtype)


def delay_indices(indices: torch.Tensor, delays: torch.Tensor | int) -> torch.Tensor:
    """The echo target: ``indices`` shifted right by ``delays`` steps, blank in front.

    Args:
        indices: (B, L) int64 symbol indices.
        delays: an int, or (B,) int64, one delay per sequence; each in 0..L.

    Returns:
        (B, L) int64 with ``target[b, t] = indices[b, t - delays[b]]`` for t >= delays[b], else blank.
    """
    batch_size, length = indices.shape
    delays = torch.as_tensor(delays, dtype=torch.int64).expand(batch_size)  # (B,)
    source = torch.arange(length) - delays[:, None]  # (B, L): the step each target copies
    copied = indices.gather(1, source.clamp(min=0))  # (B, L)
    return torch.where(source >= 0, copied, BLANK)  # (B, L)


def random_indices(batch_size: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """(B, L) int64 letters drawn uniformly from a..z (indices 1..26); never blank."""
    return torch.randint(1, NUM_SYMBOLS, (batch_size, length), generator=generator)


def random_delays(batch_size: int, generator: torch.Generator, max_delay: int = MAX_DELAY) -> torch.Tensor:
    """(B,) int64 delays drawn uniformly from 0..max_delay."""
    return torch.randint(0, max_delay + 1, (batch_size,), generator=generator)


def echo_batch(
    batch_size: int, length: int, generator: torch.Generator, delay: int = DELAY
) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch of the fixed-delay task.

    Returns:
        ``(x, target)``: x (B, L, 27) float32 one-hot inputs; target (B, L) int64 symbol indices, the
        input delayed by ``delay`` steps with blanks in front.
    """
    indices = random_indices(batch_size, length, generator)  # (B, L)
    return one_hot(indices), delay_indices(indices, delay)


def variable_delay_batch(
    batch_size: int, length: int, generator: torch.Generator, max_delay: int = MAX_DELAY
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A training batch of the variable-delay task, one delay in 0..max_delay per sequence.

    Returns:
        ``(x, delays, target)``: x (B, L, 27) float32 one-hot inputs; delays (B,) int64; target (B, L)
        int64, each sequence delayed by its own delay with blanks in front.
    """
    indices = random_indices(batch_size, length, generator)  # (B, L)
    delays = random_delays(batch_size, generator, max_delay)  # (B,)
    return one_hot(indices), delays, delay_indices(indices, delays)


def random_strings(
    num_strings: int,
    generator: torch.Generator,
    min_length: int = TEST_MIN_LENGTH,
    max_length: int = TEST_MAX_LENGTH,
) -> list[str]:
    """Fresh strings over a-z whose lengths are drawn uniformly from min_length..max_length."""
    lengths = torch.randint(min_length, max_length + 1, (num_strings,), generator=generator)
    return [decode(random_indices(1, length, generator)[0]) for length in lengths.tolist()]


def expected_output(s: str, delay: int) -> str:
    """What a perfect model's ``test_run`` returns for s: ``' ' * delay + s[:len(s) - delay]``."""
    return (" " * delay + s)[: len(s)]


def character_accuracy(outputs: Sequence[str], inputs: Sequence[str], delays: Sequence[int] | int) -> float:
    """The fraction of correctly echoed characters over all echoed positions of all strings.

    For an input s of length L with delay d, the echoed positions are t = d..L-1 and the answer is
    right at t when ``output[t] == s[t - d]``; the blanks before the delay are not counted. A missing
    character (an output shorter than L) counts as wrong. Counts are pooled over the strings, so
    longer strings weigh more.

    Args:
        outputs: the model's answers, one string per input (as rendered by ``test_run``).
        inputs: the input strings.
        delays: one delay for all strings, or one per string.

    Returns:
        The accuracy in [0, 1].
    """
    if isinstance(delays, int):
        delays = [delays] * len(inputs)
    if not len(outputs) == len(inputs) == len(delays):
        raise ValueError(
            f"need one output and one delay per input: {len(outputs)} outputs, {len(inputs)} inputs, "
            f"{len(delays)} delays"
        )
    correct = counted = 0
    for output, s, delay in zip(outputs, inputs, delays):
        echoed = s[: max(len(s) - delay, 0)]  # the characters expected at t = delay..L-1
        answered = output[delay : len(s)]
        correct += sum(want == got for want, got in zip(echoed, answered))
        counted += len(echoed)
    if counted == 0:
        raise ValueError("no echoed position to score: every string is at most as long as its delay")
    return correct / counted
