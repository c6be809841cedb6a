"""The given sequence classifiers of seq_classification.ipynb: a simple RNN and an LSTM.

Both read a batch of one-hot sequences and classify each from its *last* time step, which the
pre-padding of ``course.data.temporal_order`` makes the ``E`` of every sequence.
"""

import torch
from torch import nn

from course.data.temporal_order import CLASSES, SYMBOLS
from course.seeding import set_seed

LSTM_HIDDEN_SIZE = 12  # section "Visualize LSTM"
RNN_HIDDEN_SIZE = 4  # the small network of the notebook's first experiments, on EASY sequences


class LastStepClassifier(nn.Module):
    """A recurrent layer and a linear read-out of its last hidden state.

    Args:
        layer_name: the layer's attribute name, which prefixes its parameter names (``lstm.weight_hh_l0``).
        layer: the recurrent layer (``batch_first=True``), built before the read-out (the order in which
            the seeded initial weights are drawn).
        hidden_size: its number of units.
        num_classes: logits per sequence.

    Shape:
        x: (B, T, input_size)  ->  logits: (B, num_classes)
    """

    def __init__(self, layer_name: str, layer: nn.Module, hidden_size: int, num_classes: int):
        super().__init__()
        self.layer_name = layer_name
        setattr(self, layer_name, layer)
        self.linear = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = getattr(self, self.layer_name)(x)  # (B, T, H)
        return self.linear(h[:, -1])  # (B, num_classes)


class SimpleRNN(LastStepClassifier):
    """One tanh RNN layer (``rnn``) and a linear read-out of its last hidden state.

    Args:
        input_size: symbols per one-hot vector. Default: 8.
        hidden_size: units of the recurrent layer. Default: 4.
        num_classes: logits per sequence. Default: 4.
    """

    def __init__(self, input_size: int = len(SYMBOLS), hidden_size: int = RNN_HIDDEN_SIZE,
                 num_classes: int = len(CLASSES)):
        super().__init__("rnn", nn.RNN(input_size, hidden_size, batch_first=True), hidden_size, num_classes)


class SimpleLSTM(LastStepClassifier):
    """One LSTM layer (``lstm``) and a linear read-out of its last hidden state.

    Args:
        input_size: symbols per one-hot vector. Default: 8.
        hidden_size: units of the LSTM. Default: 12.
        num_classes: logits per sequence. Default: 4.
    """

    def __init__(self, input_size: int = len(SYMBOLS), hidden_size: int = LSTM_HIDDEN_SIZE,
                 num_classes: int = len(CLASSES)):
        super().__init__("lstm", nn.LSTM(input_size, hidden_size, batch_first=True), hidden_size, num_classes)


def build_rnn(seed: int) -> SimpleRNN:
    """A ``SimpleRNN`` with default sizes, initialised after ``set_seed(seed)``."""
    set_seed(seed)
    return SimpleRNN()


def build_lstm(seed: int) -> SimpleLSTM:
    """A ``SimpleLSTM`` with default sizes, initialised after ``set_seed(seed)``.

    The same seed always gives the same weights, and leaves torch's global generator in the same
    state, so a training run that shuffles with it afterwards is reproducible too.
    """
    set_seed(seed)
    return SimpleLSTM()
