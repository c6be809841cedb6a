"""The temporal-order generator against its definition, and the fixed held-out test set."""

import random

import numpy as np
import pytest
import torch

from course.data.temporal_order import (
    CLASSES,
    N_TEST,
    N_TRAIN,
    PAIR_TO_CLASS,
    SYMBOLS,
    DifficultyLevel,
    encode,
    generate_sequences,
    held_out_set,
    make_dataset,
    training_set,
)

SEQUENCES_PER_LEVEL = 300  # enough to hit every length and position of the widest level's ranges often


def decode(row: torch.Tensor) -> str:
    """The symbols of one encoded row (L, 8), padding rows dropped."""
    return "".join(SYMBOLS[int(i)] for i in row.argmax(dim=1)[row.sum(dim=1) > 0])


@pytest.mark.parametrize("level", list(DifficultyLevel), ids=lambda level: level.name)
def test_do_sequences_follow_their_level(level):
    spec = level.value
    sequences, labels = generate_sequences(SEQUENCES_PER_LEVEL, level, np.random.default_rng(1))
    for sequence, label in zip(sequences, labels):
        assert spec.length[0] <= len(sequence) < spec.length[1]
        assert sequence[0] == "B" and sequence[-1] == "E"
        marked = [t for t, symbol in enumerate(sequence) if symbol in "XY"]
        assert len(marked) == 2, sequence
        t1, t2 = marked
        assert spec.t1[0] <= t1 < spec.t1[1] and spec.t2[0] <= t2 < spec.t2[1], sequence
        assert set(sequence[1:-1]) - set("XY") <= set("abcd"), sequence
        assert PAIR_TO_CLASS[(sequence[t1], sequence[t2])] == label


def test_do_the_labels_name_the_XY_pair_in_order():
    assert [CLASSES[PAIR_TO_CLASS[pair]] for pair in [("X", "X"), ("X", "Y"), ("Y", "X"), ("Y", "Y")]] == list("QRSU")


def test_are_the_classes_roughly_balanced():
    n = 4000  # the standard error of a class share is 0.007, so 0.03 is more than 4 of them
    _, labels = generate_sequences(n, DifficultyLevel.EASY, np.random.default_rng(2))
    shares = np.bincount(labels, minlength=len(CLASSES)) / n
    assert np.all(np.abs(shares - 1 / len(CLASSES)) < 0.03), shares


def test_is_every_row_pre_padded_so_that_its_last_step_is_E():
    data = make_dataset(64, DifficultyLevel.MODERATE, seed=3)
    x, y = data
    assert x.shape == (64, 80, len(SYMBOLS)) and x.dtype == torch.float32
    assert y.shape == (64,) and y.dtype == torch.int64
    assert torch.all(x[:, -1, SYMBOLS.index("E")] == 1)
    steps_used = x.sum(dim=2)  # (N, L): 1 on a symbol, 0 on padding
    assert set(steps_used.unique().tolist()) <= {0.0, 1.0}
    for row in steps_used:  # padding only before the sequence, never inside or after it
        first = int(row.argmax())
        assert torch.all(row[:first] == 0) and torch.all(row[first:] == 1)
    sequences, labels = generate_sequences(64, DifficultyLevel.MODERATE, np.random.default_rng(3))
    assert [decode(row) for row in x] == sequences and y.tolist() == labels


def test_does_encoding_refuse_a_sequence_longer_than_the_padding():
    with pytest.raises(ValueError, match="max_length"):
        encode(["BaXbYE"], max_length=5)


def test_does_the_same_seed_give_the_same_data():
    first, again, other = training_set(5), training_set(5), training_set(6)
    assert torch.equal(first.x, again.x) and torch.equal(first.y, again.y)
    assert not torch.equal(first.x, other.x)
    assert first.x.shape[0] == N_TRAIN


def test_does_building_data_leave_the_global_generators_alone():
    torch.manual_seed(7), np.random.seed(7), random.seed(7)
    expected = torch.rand(3), np.random.rand(3), random.random()
    torch.manual_seed(7), np.random.seed(7), random.seed(7)
    training_set(0)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]


def test_is_the_held_out_set_the_one_every_student_and_the_grader_get():
    x, y = held_out_set()
    assert x.shape == (N_TEST, 80, len(SYMBOLS))
    # Hard-coded from the first build: a change here changes every student's test accuracy.
    assert decode(x[0]) == "BabbddddaadaaadbbYbcdcdabccaabadcdccbbaadbdbcXdabbddbbabaadbdbbdE"
    assert y[:16].tolist() == [2, 0, 2, 0, 2, 3, 0, 3, 2, 1, 3, 1, 0, 2, 3, 1]
    assert torch.bincount(y).tolist() == [137, 119, 135, 121]
    assert int(x.sum()) == 35893  # symbols in all sequences together
    assert torch.equal(held_out_set().x, x)


def test_is_the_held_out_set_apart_from_the_training_set():
    train_rows = {decode(row) for row in training_set(0).x}
    assert not train_rows & {decode(row) for row in held_out_set().x}
