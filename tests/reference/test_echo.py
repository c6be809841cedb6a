"""The echo data of hw2_rnn (course.data.echo) and the reference echo models and recipes
(course.reference.echo)."""

import dataclasses

import pytest
import torch

from course.data import echo as data
from course.reference import echo

# A recipe small enough for a test: it runs, it does not learn.
TINY_RECIPE = dataclasses.replace(
    echo.FIXED_DELAY_RECIPE, hidden_size=8, max_steps=3, eval_every=2, num_validation=5
)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def delayed_by_loop(indices: torch.Tensor, delays: list[int]) -> torch.Tensor:
    """The target by its definition, one position at a time."""
    target = torch.zeros_like(indices)
    for b, delay in enumerate(delays):
        for t in range(delay, indices.shape[1]):
            target[b, t] = indices[b, t - delay]
    return target


class PerfectEcho(echo.GRUMemory):
    """Answers with the one-hot of the input DELAY steps back (blank before): always right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return data.one_hot(data.delay_indices(x.argmax(-1), data.DELAY))


class PerfectVariableEcho(echo.VariableDelayGRUMemory):
    """Answers with the one-hot of the input ``delays[b]`` steps back (blank before): always right."""

    def forward(self, x: torch.Tensor, delays: torch.Tensor) -> torch.Tensor:
        return data.one_hot(data.delay_indices(x.argmax(-1), delays))


# --- data ---------------------------------------------------------------------------------------


def test_are_blank_and_the_letters_encoded_as_0_and_1_to_26():
    assert data.encode(" az").tolist() == [0, 1, 26]
    assert data.NUM_SYMBOLS == 27


def test_does_decode_invert_encode():
    assert data.decode(data.encode("hello world")) == "hello world"


def test_is_a_character_outside_the_alphabet_rejected():
    with pytest.raises(ValueError, match="a-z"):
        data.encode("Hello!")


def test_is_one_hot_a_unit_vector_at_the_index():
    indices = torch.tensor([[0, 5, 26]])
    x = data.one_hot(indices, torch.float64)
    assert x.shape == (1, 3, 27) and x.dtype == torch.float64
    assert torch.equal(x.sum(-1), torch.ones(1, 3, dtype=torch.float64))
    assert torch.equal(x.argmax(-1), indices)


def test_is_the_fixed_delay_target_the_input_4_steps_later_with_blanks_before():
    x, target = data.echo_batch(16, 12, generator())
    indices = x.argmax(-1)  # (B, L)
    assert data.DELAY == 4
    assert x.shape == (16, 12, 27) and target.shape == (16, 12)
    assert torch.equal(x.sum(-1), torch.ones(16, 12))
    assert (indices != data.BLANK).all(), "inputs are letters, never blank"
    assert torch.equal(target, delayed_by_loop(indices, [4] * 16))


def test_does_each_variable_delay_sequence_follow_its_own_delay():
    x, delays, target = data.variable_delay_batch(500, 12, generator())
    assert delays.dtype == torch.int64 and delays.shape == (500,)
    assert set(delays.tolist()) == set(range(data.MAX_DELAY + 1)), "every delay 0..8 occurs"
    assert torch.equal(target, delayed_by_loop(x.argmax(-1), delays.tolist()))


def test_is_a_delay_at_least_the_length_all_blank():
    indices = data.encode("abc")[None]
    assert data.delay_indices(indices, 3).tolist() == [[0, 0, 0]]
    assert data.delay_indices(indices, 0).tolist() == indices.tolist()


def test_does_the_same_seed_give_the_same_data_and_another_seed_other_data():
    first, second, other = (data.variable_delay_batch(8, 10, generator(seed)) for seed in (1, 1, 2))
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(first[0], other[0])
    assert data.random_strings(5, generator(1)) == data.random_strings(5, generator(1))


def test_is_the_global_random_state_left_alone():
    state = torch.get_rng_state()
    data.echo_batch(4, 5, generator())
    data.variable_delay_batch(4, 5, generator())
    data.random_strings(4, generator())
    assert torch.equal(torch.get_rng_state(), state)


def test_are_fresh_strings_lowercase_letters_of_length_15_to_25():
    strings = data.random_strings(400, generator())
    assert {len(s) for s in strings} == set(range(15, 26))
    assert all(s.isalpha() and s.islower() for s in strings)


def test_is_the_expected_output_the_string_delayed_with_spaces():
    assert data.expected_output("abcdef", 2) == "  abcd"
    assert data.expected_output("abcdef", 0) == "abcdef"
    assert data.expected_output("abc", 5) == "   "


def test_is_a_perfect_answer_scored_one_whatever_stands_before_the_delay():
    inputs = ["abcdefgh", "xyzxyzxyzx"]
    outputs = ["????abcd", "!!!!xyzxyz"]  # the first 4 positions are not scored
    assert data.character_accuracy(outputs, inputs, 4) == 1.0


def test_are_wrong_and_missing_characters_counted_over_the_echoed_positions_only():
    inputs = ["abcdefgh", "abcde"]
    delays = [4, 2]
    # string 1 scores t = 4..7 (4 positions), 1 wrong; string 2 scores t = 2..4 (3 positions), its last
    # character missing.
    outputs = ["    abcx", "  ab"]
    assert data.character_accuracy(outputs, inputs, delays) == pytest.approx(5 / 7)


def test_is_a_mismatch_of_counts_rejected():
    with pytest.raises(ValueError, match="one output and one delay per input"):
        data.character_accuracy(["a"], ["a", "b"], 0)


# --- models ---------------------------------------------------------------------------------------


def test_do_the_models_map_one_hot_inputs_to_logits_of_the_same_shape():
    x = data.one_hot(data.random_indices(3, 7, generator()))  # (3, 7, 27)
    assert echo.GRUMemory(16)(x).shape == (3, 7, 27)
    model = echo.VariableDelayGRUMemory(16, max_delay=8)
    assert model.max_delay == 8
    assert model(x, torch.tensor([0, 4, 8])).shape == (3, 7, 27)


def test_is_a_delay_beyond_max_delay_rejected():
    x = data.one_hot(data.random_indices(2, 5, generator()))
    with pytest.raises(ValueError, match=r"0\.\.8"):
        echo.VariableDelayGRUMemory(16, max_delay=8)(x, torch.tensor([0, 9]))


def test_does_a_perfect_model_echo_with_spaces_and_score_one():
    strings = data.random_strings(20, generator())
    model = PerfectEcho(4)
    outputs = [model.test_run(s) for s in strings]
    assert outputs == [data.expected_output(s, data.DELAY) for s in strings]
    assert outputs[0] == " " * 4 + strings[0][:-4]
    assert echo.fixed_delay_accuracy(model, 50, generator()) == 1.0


def test_does_a_perfect_variable_delay_model_echo_with_spaces_and_score_one():
    strings = data.random_strings(20, generator())
    delays = data.random_delays(20, generator()).tolist()
    model = PerfectVariableEcho(4, data.MAX_DELAY)
    outputs = [model.test_run(s, d) for s, d in zip(strings, delays)]
    assert outputs == [data.expected_output(s, d) for s, d in zip(strings, delays)]
    assert echo.variable_delay_accuracy(model, 50, generator()) == 1.0


def test_does_the_batched_echo_give_the_answers_of_test_run_one_by_one():
    strings = data.random_strings(10, generator())  # lengths differ, so the batch is padded
    delays = data.random_delays(10, generator()).tolist()
    torch.manual_seed(0)
    fixed, variable = echo.GRUMemory(16), echo.VariableDelayGRUMemory(16, data.MAX_DELAY)
    assert echo.echo_strings(fixed, strings) == [fixed.test_run(s) for s in strings]
    one_by_one = [variable.test_run(s, d) for s, d in zip(strings, delays)]
    assert echo.echo_strings(variable, strings, delays) == one_by_one


# --- recipes --------------------------------------------------------------------------------------


def test_does_the_same_seed_train_the_same_model_and_leave_global_state_alone():
    rng_state, num_threads = torch.get_rng_state(), torch.get_num_threads()
    first, log = echo.train_gru_memory(3, TINY_RECIPE)
    second, _ = echo.train_gru_memory(3, TINY_RECIPE)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert torch.get_num_threads() == num_threads
    assert log.steps == 3 and [row[0] for row in log.validations] == [2, 3]


def test_does_the_variable_delay_recipe_run():
    model, log = echo.train_variable_delay_gru_memory(0, TINY_RECIPE)
    assert isinstance(model, echo.VariableDelayGRUMemory) and model.max_delay == data.MAX_DELAY
    assert log.steps == 3 and 0.0 <= log.accuracy <= 1.0


def test_does_the_fixed_delay_recipe_pass_the_bar_within_seconds():
    model, log = echo.train_gru_memory(0)  # about 300 steps, a few seconds on one thread
    assert log.steps < echo.FIXED_DELAY_RECIPE.max_steps, "stopped early at the target accuracy"
    fresh = generator(seed=1)  # not the training seed
    assert echo.fixed_delay_accuracy(model, 500, fresh) >= 0.99
