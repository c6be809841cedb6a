"""Is the given code of hw2_rnn the course's, do the notebook's solutions equal the reference, and does
every grader give them full marks (and take points from realistic mistakes)?"""

import dataclasses

import matplotlib
import pytest
import torch

from course.data import echo as echo_data
from course.grade.checker import PARTS, find_part, grade_part
from course.grade.handwritten import autograd_uses
from course.grade.subject import LocalSubject
from course.probes.common import torch_threads
from course.reference import echo, gated_rnn
from course.tools.notebooks import Shell, grade_id, read, without_markers
from course.pipeline.markers import is_colab_only
from support import submission

matplotlib.use("Agg")

# The variable-delay model takes ~40 s to train: the fixture stands in an oracle subclass of the notebook's
# own class for it (its test_run and answer_strings are the notebook's); it is trained for real end to end
# in tests/pipeline/test_hw2_rnn_autograde.py. The fixed-delay model trains here (a few seconds). The other
# cells that run in Colab only (checks of the trained models, storing their weights) are skipped.
VARIABLE_TRAINING_LINE = "variable_echo_model, variable_history = train_variable_delay(VARIABLE_CONFIG, seed=0)"
TRAINING_CELLS = {"train_fixed", "train_variable"}


def oracle_variable_model(namespace):
    """A VariableDelayGRUMemory of the notebook whose forward answers perfectly."""

    class Oracle(namespace["VariableDelayGRUMemory"]):
        def forward(self, x, delays):
            return 10.0 * echo_data.one_hot(echo_data.delay_indices(x.argmax(-1), delays))

    return Oracle(8, echo_data.MAX_DELAY)


def run_notebook(repo) -> dict:
    """The namespace of the source notebook run top to bottom (visible checks included, hidden tests not)."""
    import matplotlib.pyplot as plt

    namespace, history = {"get_ipython": Shell}, []
    namespace["In"] = history  # what LocalSubject.cell_sources reads, as in IPython
    for cell in read(str(repo / "source" / "hw2" / "hw2_rnn.ipynb")).cells:
        gid = grade_id(cell) or ""
        if cell.cell_type != "code" or gid.startswith("test_") or (is_colab_only(cell.source) and gid not in TRAINING_CELLS):
            continue
        source = without_markers(cell.source)
        if gid == "train_variable":
            assert VARIABLE_TRAINING_LINE in source
            source = source.replace(VARIABLE_TRAINING_LINE, "")
            namespace["variable_echo_model"] = oracle_variable_model(namespace)
            namespace["variable_history"] = {"step": [1], "loss": [1.0], "val_step": [1], "val_acc": [1.0]}
        history.append(source)
        exec(compile(source, f"<cell {gid}>", "exec"), namespace)
        plt.close("all")
    return namespace


@pytest.fixture(scope="module")
def notebook(repo):
    import matplotlib.pyplot as plt

    show = plt.show
    plt.show = lambda *args, **kwargs: None
    try:  # one thread, as in the grading kernel (and the reference recipes): the same arithmetic
        with torch_threads(1), torch.random.fork_rng(devices=[]):
            yield run_notebook(repo)
    finally:
        plt.show = show


def generator(seed=7):
    return torch.Generator().manual_seed(seed)


# --- given code ------------------------------------------------------------------------------------

def test_are_the_given_constants_the_courses(notebook):
    for name in ("SYMBOLS", "BLANK", "NUM_SYMBOLS", "DELAY", "MAX_DELAY", "TEST_MIN_LENGTH", "TEST_MAX_LENGTH"):
        assert notebook[name] == getattr(echo_data, name), name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_do_the_given_generators_draw_the_courses_data(notebook, seed):
    for name, args in (("echo_batch", (8, 12)), ("variable_delay_batch", (16, 10)), ("random_indices", (3, 5)),
                       ("random_delays", (20,))):
        ours, theirs = notebook[name](*args, generator(seed)), getattr(echo_data, name)(*args, generator(seed))
        ours, theirs = (ours, theirs) if isinstance(ours, tuple) else ((ours,), (theirs,))
        assert all(torch.equal(a, b) and a.dtype == b.dtype for a, b in zip(ours, theirs)), name
    assert notebook["echo_batch"](4, 9, generator(seed), 2)[1].equal(echo_data.echo_batch(4, 9, generator(seed), 2)[1])
    assert notebook["random_strings"](50, generator(seed)) == echo_data.random_strings(50, generator(seed))
    assert notebook["random_strings"](5, generator(seed), 3, 4) == echo_data.random_strings(5, generator(seed), 3, 4)


def test_do_the_given_encoding_and_scoring_behave_as_the_courses(notebook):
    strings = echo_data.random_strings(30, generator())
    assert notebook["decode"](notebook["encode"](" hello z")) == " hello z"
    assert torch.equal(notebook["encode"]("abc xyz"), echo_data.encode("abc xyz"))
    indices = echo_data.random_indices(4, 6, generator())
    assert torch.equal(notebook["one_hot"](indices, torch.float64), echo_data.one_hot(indices, torch.float64))
    for delays in (0, 3, 7, torch.tensor([0, 2, 6, 9])):
        assert torch.equal(notebook["delay_indices"](indices, delays), echo_data.delay_indices(indices, delays))
    for s in strings[:5]:
        for delay in (0, 4, 30):
            assert notebook["expected_output"](s, delay) == echo_data.expected_output(s, delay)
    noisy = [s[:-3] + "ab" for s in strings]  # wrong, missing and right characters
    delays = [i % 9 for i in range(len(strings))]
    for answers in (strings, noisy, [echo_data.expected_output(s, 4) for s in strings]):
        assert notebook["character_accuracy"](answers, strings, 4) == echo_data.character_accuracy(answers, strings, 4)
        assert notebook["character_accuracy"](answers, strings, delays) == \
            echo_data.character_accuracy(answers, strings, delays)
    for bad in ((["a"], ["a", "b"], 0), (["abc"], ["abc"], 5)):
        with pytest.raises(ValueError) as ours:
            notebook["character_accuracy"](*bad)
        with pytest.raises(ValueError) as theirs:
            echo_data.character_accuracy(*bad)
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError, match="a-z"):
        notebook["encode"]("Hello")


# --- section 1 ------------------------------------------------------------------------------------

def test_is_c_dimension_the_hidden_size(notebook):
    assert all(notebook["c_dimension"](n, m) == m for n in (1, 3, 7) for m in (2, 5, 11))


@pytest.mark.parametrize("batch,steps,n,m", [(2, 5, 3, 4), (1, 1, 2, 2), (3, 9, 6, 1)])
def test_does_gated_rnn_match_the_reference(notebook, batch, steps, n, m):
    torch.manual_seed(5)
    ours = notebook["GatedRNN"](n, m)
    torch.manual_seed(5)
    theirs = gated_rnn.GatedRNN(n, m)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    assert all(torch.equal(ours.state_dict()[k], v) for k, v in theirs.state_dict().items()), "same initialisation"
    for dtype in (torch.float64, torch.float32):
        x = torch.randn(batch, steps, n, generator=generator(), dtype=dtype)
        for mine, reference in zip(ours(x), theirs(x)):
            assert mine.dtype == dtype and torch.allclose(mine, reference, atol=1e-12 if dtype == torch.float64 else 1e-6)


@pytest.mark.parametrize("batch,steps,n,m", [(2, 6, 3, 4), (1, 1, 2, 3), (3, 8, 5, 2)])
def test_does_gated_rnn_backward_match_the_reference(notebook, batch, steps, n, m):
    g = generator()
    weights = [torch.randn(m, n, generator=g, dtype=torch.float64), torch.randn(m, m, generator=g, dtype=torch.float64),
               torch.randn(m, n, generator=g, dtype=torch.float64)]
    x, dl_dh = torch.randn(batch, steps, n, generator=g, dtype=torch.float64), torch.randn(batch, steps, m, generator=g, dtype=torch.float64)
    h, c = gated_rnn.gated_rnn_forward(x, *weights)
    ours = notebook["gated_rnn_backward"](x, h, c, *weights, dl_dh)
    theirs = gated_rnn.gated_rnn_backward(x, h, c, *weights, dl_dh)
    assert set(ours) == {"W_x", "W_c", "W_h"}
    assert all(torch.allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-12) for k in theirs)


def test_does_the_jacobian_measurement_match_the_reference(notebook):
    torch.manual_seed(3)
    model = gated_rnn.GatedRNN(4, 6).double()
    x = torch.randn(20, 4, generator=generator(), dtype=torch.float64)
    lengths = [1, 2, 5, 20]
    for scale in (0.5, 1.0, 8.0):
        ours = torch.tensor(notebook["hidden_jacobian_norms"](model, x, lengths, scale), dtype=torch.float64)
        assert torch.allclose(ours, gated_rnn.hidden_jacobian_norms(model, x[None], lengths, scale)[0], rtol=1e-10)


def test_does_the_solution_diagram_cell_define_a_graph(notebook):
    assert len(notebook["nodes"]) >= 7 and all(edge[0] in notebook["nodes"] and edge[1] in notebook["nodes"]
                                               for edge in notebook["edges"])


# --- section 2 ------------------------------------------------------------------------------------

def test_do_the_echo_models_match_the_reference(notebook):
    strings = echo_data.random_strings(20, generator())
    delays = echo_data.random_delays(20, generator()).tolist()
    torch.manual_seed(0)
    reference, ours = echo.GRUMemory(12), notebook["GRUMemory"](12)
    ours.load_state_dict(reference.state_dict())
    x = echo_data.one_hot(echo_data.random_indices(3, 9, generator()))
    assert torch.allclose(ours(x), reference(x))
    assert [ours.test_run(s) for s in strings] == [reference.test_run(s) for s in strings]
    reference, ours = echo.VariableDelayGRUMemory(12, 8), notebook["VariableDelayGRUMemory"](12, 8)
    ours.load_state_dict(reference.state_dict())
    assert ours.max_delay == 8
    assert torch.allclose(ours(x, torch.tensor([0, 5, 8])), reference(x, torch.tensor([0, 5, 8])))
    assert [ours.test_run(s, d) for s, d in zip(strings, delays)] == [reference.test_run(s, d) for s, d in zip(strings, delays)]


def test_does_the_notebook_train_the_fixed_delay_model_as_the_reference_recipe(notebook):
    reference, log = echo.train_gru_memory(0)
    assert notebook["fixed_history"]["val_step"][-1] == log.steps
    assert notebook["fixed_history"]["val_acc"][-1] >= 0.99
    assert all(torch.equal(a, b) for a, b in zip(notebook["echo_model"].state_dict().values(), reference.state_dict().values()))


def test_does_the_notebook_train_the_variable_delay_model_as_the_reference_recipe(notebook):
    tiny = dict(hidden_size=16, max_steps=6, eval_every=3, num_validation=10)
    config = notebook["EchoConfig"](lr=2e-2, **tiny)
    ours, history = notebook["train_variable_delay"](config, 1)
    recipe = dataclasses.replace(echo.VARIABLE_DELAY_RECIPE, learning_rate=2e-2, **tiny)
    reference, log = echo.train_variable_delay_gru_memory(1, recipe)
    assert history["val_step"] == [step for step, _, _ in log.validations]
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), reference.state_dict().values()))


def test_does_training_with_no_step_leave_an_untrained_model_and_a_history(notebook):
    config = notebook["EchoConfig"](hidden_size=8, max_steps=0, num_validation=10)
    model, history = notebook["train_fixed_delay"](config, 0)
    assert history["step"] == [] and history["val_step"] == [0] and history["val_acc"][0] < 0.5


# --- the graders on the solutions and on mistakes ---------------------------------------------------

def submitted(notebook, **models):
    """The namespace to grade, and the submission of a notebook whose last cell stored ``models``: the
    classes are the models' own, so that the grader rebuilds each from its class."""
    classes = {"echo_model": "GRUMemory", "variable_echo_model": "VariableDelayGRUMemory"}
    namespace = {**notebook, **{classes[name]: type(model) for name, model in models.items()}}
    return namespace, submission("hw2_rnn", "", **models)


def test_does_every_hw2_rnn_grader_give_the_solutions_full_marks(notebook):
    find_part("hw2_rnn.gated_rnn")
    parts = sorted(p for p in PARTS if p.startswith("hw2_rnn."))
    assert sum(PARTS[p].points for p in parts) == 32  # + 8 points of TA-graded answers = 40
    namespace, weights = submitted(notebook, echo_model=notebook["echo_model"],
                                   variable_echo_model=notebook["variable_echo_model"])
    for part_id in parts:
        result = grade_part(part_id, LocalSubject(namespace, weights))
        assert result.fraction == 1.0, result.report(PARTS[part_id].points)


def with_cell(notebook, source: str) -> dict:
    """A copy of the notebook's namespace after one more cell ran."""
    namespace = dict(notebook)
    namespace["In"] = list(notebook["In"]) + [source]
    exec(source, namespace)
    return namespace


def grade(part_id, namespace, weights=None):
    return grade_part(part_id, LocalSubject(namespace, weights))


def test_do_swapped_gate_terms_fail_the_forward_part_only(notebook):
    swapped = with_cell(notebook, """
class GatedRNN(GatedRNN):
    def forward(self, x):
        W_c, W_h, W_x = self.W_c.to(x), self.W_h.to(x), self.W_x.to(x)
        h_prev, hs, cs = x.new_zeros(x.shape[0], self.hidden_size), [], []
        for t in range(x.shape[1]):
            c_t = torch.sigmoid(x[:, t] @ W_c.T + h_prev @ W_h.T)
            h_prev = (1 - c_t) * h_prev + c_t * (x[:, t] @ W_x.T)
            hs.append(h_prev)
            cs.append(c_t)
        return torch.stack(hs, 1), torch.stack(cs, 1)
""")
    result = grade("hw2_rnn.gated_rnn", swapped)
    assert result.fraction < 0.6 and "largest error" in result.report(5)
    assert grade("hw2_rnn.gated_rnn_backward", swapped).fraction == 1.0


BACKWARD_TEMPLATE = '''
def gated_rnn_backward(x, h, c, W_c, W_h, W_x, dl_dh):
    h_before = torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], dim=1)
    candidate = x @ W_x.T
    d_u, d_a = torch.empty_like(h), torch.empty_like(h)
    from_later = torch.zeros_like(h[:, 0])
    for t in reversed(range(x.shape[1])):
        g = dl_dh[:, t] + from_later
        d_u[:, t] = g * (1 - c[:, t])
        d_a[:, t] = g * (h_before[:, t] - candidate[:, t]) * c[:, t] * (1 - c[:, t])
        from_later = {back}
    return {{"W_x": torch.einsum("btm,btn->mn", d_u, x), "W_c": torch.einsum("btm,btn->mn", d_a, x),
            "W_h": torch.einsum("btm,btk->mk", d_a, h_before)}}
'''


@pytest.mark.parametrize("back,why", [("torch.zeros_like(g)", "ignores the recurrence"),
                                      ("g * c[:, t]", "ignores the gate's dependence on h[t-1]")])
def test_does_a_backward_that_misses_a_path_lose_points(notebook, back, why):
    result = grade("hw2_rnn.gated_rnn_backward", with_cell(notebook, BACKWARD_TEMPLATE.format(back=back)))
    assert result.fraction < 1.0, why
    assert "last step" in result.report(6) and "largest error" in result.report(6)


AUTOGRAD_BACKWARD = '''
def gated_rnn_backward(x, h, c, W_c, W_h, W_x, dl_dh):
    weights = {"W_c": W_c.clone(), "W_h": W_h.clone(), "W_x": W_x.clone()}
    for w in weights.values():
        w.requires_grad_()
    rnn_h = []
    h_prev = x.new_zeros(x.shape[0], W_h.shape[0])
    with torch.enable_grad():
        for t in range(x.shape[1]):
            c_t = torch.sigmoid(x[:, t] @ weights["W_c"].T + h_prev @ weights["W_h"].T)
            h_prev = c_t * h_prev + (1 - c_t) * (x[:, t] @ weights["W_x"].T)
            rnn_h.append(h_prev)
        grads = AUTOGRAD.grad((torch.stack(rnn_h, 1) * dl_dh).sum(), list(weights.values()))
    return {name: g.detach() for name, g in zip(weights, grads)}
'''


def test_is_autograd_inside_the_backward_found_by_reading_the_source(notebook):
    namespace = with_cell(notebook, "AUTOGRAD = torch.autograd\n" + AUTOGRAD_BACKWARD)
    uses = autograd_uses(namespace["In"], ["gated_rnn_backward"])
    assert any("requires_grad_" in use for use in uses) and any("enable_grad" in use for use in uses)
    result = grade("hw2_rnn.gated_rnn_backward", namespace)
    assert result.fraction == 0.0 and "without autograd" in result.report(6)


def test_is_autograd_inside_the_backward_caught_while_it_runs(notebook):
    hidden = AUTOGRAD_BACKWARD.replace("w.requires_grad_()", "getattr(w, 'requires' + '_grad_')()").replace(
        "with torch.enable_grad():", "if True:")
    namespace = with_cell(notebook, "AUTOGRAD = getattr(torch, 'auto' + 'grad')\n" + hidden)
    namespace["In"] = []  # nothing to read: only the run can tell
    result = grade("hw2_rnn.gated_rnn_backward", namespace)
    assert result.fraction == 0.0 and "autograd's backward pass ran" in result.report(6)


def test_does_an_untrained_echo_model_get_only_the_interface_point(notebook):
    torch.manual_seed(0)
    result = grade("hw2_rnn.gru_memory", *submitted(notebook, echo_model=notebook["GRUMemory"](64)))
    assert result.points(10) == 1.0
    assert "needs 99%" in result.report(10) and "should give" in result.report(10)


def test_does_a_nearly_right_echo_model_get_partial_credit(notebook):
    """An oracle that always answers 'a' for 'z': about 96 % of the characters right."""

    class AlmostOracle(notebook["GRUMemory"]):
        def forward(self, x):
            target = echo_data.delay_indices(x.argmax(-1), echo_data.DELAY)
            return echo_data.one_hot(torch.where(target == 26, 1, target))

    result = grade("hw2_rnn.gru_memory", *submitted(notebook, echo_model=AlmostOracle(8)))
    assert result.points(10) == 6.0, result.report(10)  # interface 1 + 50 % 1 + 80 % 2 + 95 % 2


def test_does_a_test_run_that_bypasses_the_model_fail_the_interface(notebook):
    namespace = with_cell(notebook, """
class GRUMemory(GRUMemory):
    def test_run(self, s):
        return expected_output(s, DELAY)
""")
    result = grade("hw2_rnn.gru_memory", namespace)
    assert not result.findings[0].passed and "argmax of the model's own logits" in result.findings[0].detail


def test_do_weights_that_do_not_fit_the_class_fall_back_to_the_learn_check(notebook):
    """Weights of a GRU with another read-out: the part says why; the grader's own brief training of a fresh
    GRUMemory earns at most half of the accuracy points."""
    class Other(torch.nn.Module):
        def __init__(self, hidden_size):
            super().__init__()
            self.gru = torch.nn.GRU(27, hidden_size, batch_first=True)

        def forward(self, x):
            return self.gru(x)[0]

    weights = submission("hw2_rnn", "", echo_model=Other(27))
    result = grade("hw2_rnn.gru_memory", notebook, weights)
    report = result.report(10)
    assert "do not fit your GRUMemory class" in report and "learn-check" in report, report
    assert result.points(10) <= 1 + 4.5
