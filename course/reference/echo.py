"""Reference for hw2_rnn section 2, "Echo": GRU models that repeat their input after a delay, and the
recipes that train them from scratch on one CPU thread in bounded time.

The data, its encoding, the rendering of an answer and the accuracy are defined in
:mod:`course.data.echo`.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from course.data import echo as data
from course.probes.common import torch_threads


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

    The delay reaches the network in two places:

    - as a one-hot vector of ``max_delay + 1`` entries concatenated to the one-hot symbol at every
      step, so the GRU sees 27 + max_delay + 1 features and knows how much history to keep;
    - as the choice of the read-out: one linear read-out per delay, so the hidden state only has to
      hold the recent symbols and each read-out learns to pick the one at its own distance.

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
        self.readout = nn.Linear(hidden_size, (max_delay + 1) * data.NUM_SYMBOLS)

    def forward(self, x: torch.Tensor, delays: torch.Tensor) -> torch.Tensor:
        """x: (B, L, 27), delays: (B,) int64 -> logits (B, L, 27)."""
        if delays.min() < 0 or delays.max() > self.max_delay:
            raise ValueError(f"delays must lie in 0..{self.max_delay}, got {delays.tolist()}")
        batch_size, length, _ = x.shape
        delay_code = nn.functional.one_hot(delays, self.max_delay + 1).to(x)  # (B, D+1)
        delay_code = delay_code[:, None, :].expand(-1, length, -1)  # (B, L, D+1)
        h, _ = self.gru(torch.cat([x, delay_code], dim=-1))  # (B, L, hidden)
        every_readout = self.readout(h).unflatten(-1, (-1, data.NUM_SYMBOLS))  # (B, L, D+1, 27)
        chosen = delays[:, None, None, None].expand(-1, length, 1, data.NUM_SYMBOLS)  # (B, L, 1, 27)
        return every_readout.gather(2, chosen).squeeze(2)  # (B, L, 27)

    def test_run(self, s: str, delay: int) -> str:
        """The echo of ``s`` after ``delay`` steps: a string of the same length, blanks as spaces."""
        return echo_strings(self, [s], [delay])[0]


def echo_strings(model: nn.Module, strings: Sequence[str], delays: Sequence[int] | None = None) -> list[str]:
    """Every string's echo by one batched forward pass; the same answers as ``test_run`` one by one.

    The strings are padded with blanks at the end to a common length, run together, and each answer
    cut back to its string's length. Padding at the end cannot change earlier answers because the
    models are causal (a one-directional GRU); do not use this for a model that looks ahead.

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
    answers = logits.argmax(dim=-1).cpu()  # (B, L)
    return [data.decode(answer[: len(s)]) for answer, s in zip(answers, strings)]


def fixed_delay_accuracy(model: GRUMemory, num_strings: int, generator: torch.Generator) -> float:
    """Character accuracy of ``model`` on ``num_strings`` fresh strings of length 15..25, delay 4."""
    strings = data.random_strings(num_strings, generator)
    return data.character_accuracy(echo_strings(model, strings), strings, data.DELAY)


def variable_delay_accuracy(
    model: VariableDelayGRUMemory, num_strings: int, generator: torch.Generator
) -> float:
    """Character accuracy on ``num_strings`` fresh strings of length 15..25, delays uniform in 0..8."""
    strings = data.random_strings(num_strings, generator)
    delays = data.random_delays(num_strings, generator, data.MAX_DELAY).tolist()
    return data.character_accuracy(echo_strings(model, strings, delays), strings, delays)


@dataclass(frozen=True)
class EchoRecipe:
    """How to train an echo model from scratch: Adam, gradient clipping, a cosine learning rate."""

    hidden_size: int  # the GRU's hidden units
    max_steps: int  # the most optimisation steps; the cosine schedule decays to zero over them
    learning_rate: float  # Adam's initial learning rate
    batch_size: int = 64  # sequences per step
    # Every training string has the longest graded length: the models are causal, so a shorter graded
    # string is answered exactly like the prefix of a longer one.
    train_length: int = data.TEST_MAX_LENGTH
    max_grad_norm: float = 1.0  # gradient norm clipping; tames the rare large steps of a GRU
    # Training delays d are drawn with probability proportional to (d + 1) ** delay_weight_power: the
    # long delays need the most memory and are learnt last (variable-delay task only).
    delay_weight_power: float = 2.0
    eval_every: int = 100  # steps between two validations
    num_validation: int = 500  # fresh validation strings (about 8,000 scored characters)
    # Training stops at the first validation at or above this accuracy. The graded bar is 0.99; on
    # 8,000 characters the standard error near 0.99 is about 0.1 %, so stopping at 0.997 leaves the
    # true accuracy above 0.995 in practice and above the bar by a wide margin.
    target_accuracy: float = 0.997
    num_threads: int = 1  # torch threads while training: graders run two notebooks on two cores


FIXED_DELAY_RECIPE = EchoRecipe(hidden_size=64, max_steps=1000, learning_rate=1e-2)
VARIABLE_DELAY_RECIPE = EchoRecipe(hidden_size=160, max_steps=2000, learning_rate=2e-2)


@dataclass
class TrainingLog:
    """What a training run did: one ``(step, seconds, accuracy)`` row per validation."""

    steps: int = 0  # optimisation steps taken
    seconds: float = 0.0  # wall-clock seconds of the whole run, validations included
    validations: list[tuple[int, float, float]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """The last validation accuracy."""
        return self.validations[-1][2]


def train_gru_memory(seed: int, recipe: EchoRecipe = FIXED_DELAY_RECIPE) -> tuple[GRUMemory, TrainingLog]:
    """Train a :class:`GRUMemory` from scratch on the fixed-delay task; same seed, same model."""
    model = _seeded(seed, lambda: GRUMemory(recipe.hidden_size))
    generator = torch.Generator().manual_seed(seed)
    validation_strings = data.random_strings(recipe.num_validation, generator)

    def loss_of_batch() -> torch.Tensor:
        x, target = data.echo_batch(recipe.batch_size, recipe.train_length, generator)  # (B, L, 27), (B, L)
        return nn.functional.cross_entropy(model(x).flatten(0, 1), target.flatten())

    def validate() -> float:
        answers = echo_strings(model, validation_strings)
        return data.character_accuracy(answers, validation_strings, data.DELAY)

    return model, _train(model, loss_of_batch, validate, recipe)


def train_variable_delay_gru_memory(
    seed: int, recipe: EchoRecipe = VARIABLE_DELAY_RECIPE, max_delay: int = data.MAX_DELAY
) -> tuple[VariableDelayGRUMemory, TrainingLog]:
    """Train a :class:`VariableDelayGRUMemory` from scratch on delays 0..max_delay; same seed, same model.

    Validation uses uniform delays, as grading does; training favours long delays (see
    :attr:`EchoRecipe.delay_weight_power`).
    """
    model = _seeded(seed, lambda: VariableDelayGRUMemory(recipe.hidden_size, max_delay))
    generator = torch.Generator().manual_seed(seed)
    validation_strings = data.random_strings(recipe.num_validation, generator)
    validation_delays = data.random_delays(recipe.num_validation, generator, max_delay).tolist()
    delay_weights = (torch.arange(max_delay + 1) + 1.0) ** recipe.delay_weight_power  # (D+1,)

    def loss_of_batch() -> torch.Tensor:
        indices = data.random_indices(recipe.batch_size, recipe.train_length, generator)  # (B, L)
        delays = torch.multinomial(
            delay_weights, recipe.batch_size, replacement=True, generator=generator
        )  # (B,)
        logits = model(data.one_hot(indices), delays)  # (B, L, 27)
        target = data.delay_indices(indices, delays)  # (B, L)
        return nn.functional.cross_entropy(logits.flatten(0, 1), target.flatten())

    def validate() -> float:
        answers = echo_strings(model, validation_strings, validation_delays)
        return data.character_accuracy(answers, validation_strings, validation_delays)

    return model, _train(model, loss_of_batch, validate, recipe)


def _seeded(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    """``build()`` with torch's global generator seeded, leaving the caller's random state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _train(
    model: nn.Module,
    loss_of_batch: Callable[[], torch.Tensor],
    validate: Callable[[], float],
    recipe: EchoRecipe,
) -> TrainingLog:
    """Adam with gradient clipping and a cosine learning rate, until the target accuracy or max_steps."""
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.max_steps)
    log = TrainingLog()
    start = time.perf_counter()
    with torch_threads(recipe.num_threads):
        for step in range(1, recipe.max_steps + 1):
            loss = loss_of_batch()
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), recipe.max_grad_norm)
            optimizer.step()
            schedule.step()
            if step % recipe.eval_every == 0 or step == recipe.max_steps:
                accuracy = validate()
                log.validations.append((step, time.perf_counter() - start, accuracy))
                if accuracy >= recipe.target_accuracy:
                    break
    log.steps = step
    log.seconds = time.perf_counter() - start
    return log
