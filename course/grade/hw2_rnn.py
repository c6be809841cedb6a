"""Graders of hw2_rnn.ipynb: a gated RNN by hand (forward and backpropagation through time) and GRU
models that echo a sequence.

Section 1 draws random sizes, weights and inputs from the part's seeded generator and compares the
student's results with the reference (forward) or with autograd on the reference forward in float64
(backward; the reference backward is cross-checked there, so a disagreement between the two is our
bug, never the student's). The backward pass must be written by hand: the grader reads the source of
``gated_rnn_backward`` (and of the notebook functions it calls) for autograd, and watches for autograd's
backward pass while the function runs (:func:`course.probes.common.backward_by_hand`).

Section 2 grades the models the notebook trained: the grader draws fresh strings (and delays), the
probe only calls the trained model's ``test_run`` on them, and the character accuracy is computed here
with :mod:`course.data.echo`. A fresh instance of each class is checked for the interface (shapes,
``test_run`` rendering the model's own predictions).
"""


import torch

from course.data import echo as echo_data
from course.grade.answers import as_integer, same_value, shown
from course.grade.checker import Case, Checker, describe_shape, once, part
from course.grade.handwritten import autograd_uses, require_verifiable
from course.grade.subject import StudentError, Subject
from course.grade.tolerances import FLOAT32, FLOAT64
from course.reference.gated_rnn import gated_rnn_backward, gated_rnn_forward
GRADIENTS = ("W_x", "W_c", "W_h")  # the keys gated_rnn_backward returns, in the order graded


def _summarise(case: Case, name: str, pairs, settings: int) -> None:
    """Replace a passed case's per-tensor evidence by one line: the largest error over every setting."""
    if case.passed:
        worst = max(float((got.double() - want.double()).abs().max()) for got, want in pairs)
        case.evidence[:] = [f"{name} largest error {worst:.2g} over {settings} settings"]


def _draw(checker: Checker, low: int, high: int) -> int:
    """A seeded integer in low..high (both included)."""
    return int(checker.randint(low, high + 1, (1,)))


def _weights(checker: Checker, n: int, m: int) -> dict[str, torch.Tensor]:
    """Random float64 weights with the scale of GatedRNN's initialisation (unit-order gate inputs)."""
    return {"W_c": checker.randn(m, n) / n ** 0.5, "W_h": checker.randn(m, m) / m ** 0.5,
            "W_x": checker.randn(m, n) / n ** 0.5}


# ---------------------------------------------------------------------------------------------
# Section 1: the gated RNN

@part("hw2_rnn.c_dimension", "The dimension of c[t]", 1,
      hint="c[t] multiplies h[t-1] element by element, so it has one entry per hidden unit.")
def grade_c_dimension(subject: Subject, checker: Checker) -> None:
    """c_dimension(n, m) on five random pairs with n != m, as any whole number (an int, a NumPy
    integer, a one-element tensor)."""
    sizes = []
    while len(sizes) < 5:
        n, m = _draw(checker, 1, 40), _draw(checker, 1, 40)
        if n != m:
            sizes.append((n, m))

    def run(case: Case):
        for n, m in sizes:
            got = subject.probe("call", name="c_dimension", args=[n, m]).result
            case.expect(as_integer(got) == m, f"c_dimension({n}, {m}) returned {shown(got)}: expected the number of "
                                              "entries of c[t], a whole number")
    checker.add(f"c_dimension(n, m) on {len(sizes)} random (n, m) with n != m", run)


@part("hw2_rnn.gated_rnn", "GatedRNN", 5,
      hint="Start from h[0] = 0; at each step compute the gate c[t] from x[t] and h[t-1] first, then mix: the gate "
           "multiplies the old state h[t-1] and (1 - c[t]) the candidate W_x x[t]. With row vectors, W x[t] is "
           "x[:, t] @ W.T. Return the T states after h[0], stacked along dimension 1.")
def grade_gated_rnn(subject: Subject, checker: Checker) -> None:
    """A fresh GatedRNN on random sizes: parameter names and shapes (1 of 5), h and c with the
    grader's weights in float64 on four shapes (2.5), in float32 keeping the dtype (1), and outputs
    that keep the autograd graph (0.5)."""
    settings = [(_draw(checker, 1, 3), _draw(checker, 2, 10), _draw(checker, 1, 6), _draw(checker, 1, 6))
                for _ in range(3)] + [(2, 1, 3, 4)]  # (B, T, n, m); the last checks a single step
    runs = []
    for batch, steps, n, m in settings:
        weights, x = _weights(checker, n, m), checker.randn(batch, steps, n)
        runs.append(((batch, steps, n, m), weights, x, gated_rnn_forward(x, weights["W_c"], weights["W_h"], weights["W_x"])))
    n32, m32 = _draw(checker, 2, 6), _draw(checker, 2, 6)
    weights32, x32 = _weights(checker, n32, m32), checker.randn(2, 6, n32)
    expected32 = gated_rnn_forward(x32, weights32["W_c"], weights32["W_h"], weights32["W_x"])

    def outputs(weights, x):
        n, m = x.shape[2], weights["W_h"].shape[0]
        return subject.probe("gated_rnn_run", input_size=n, hidden_size=m, weights=weights, x=x)

    fetched = once(lambda: [outputs(weights, x) for _, weights, x, _ in runs])

    def check_output(case: Case, facts, expected, shape, dtype, tolerance) -> bool:
        output = facts.output
        if not case.expect(output is not None, f"GatedRNN({shape[2]}, {shape[3]}) has no parameters named W_c, W_h, "
                                               "W_x of the right shapes to load the test weights into"):
            return False
        if not case.expect(isinstance(output, tuple) and len(output) == 2, "forward should return a pair (h, c)"):
            return False
        case.expect(not facts.mutated, "forward modified its input x in place")
        where = f" for x ({', '.join(map(str, shape[:3]))}), m = {shape[3]}"
        return (case.expect_tensor("h" + where, output[0], expected[0], dtype=dtype, **tolerance)
                and case.expect_tensor("c" + where, output[1], expected[1], dtype=dtype, **tolerance))

    def parameters(case: Case):
        for (_, _, n, m), _, _, _ in runs[:2]:
            facts = subject.probe("gated_rnn_run", input_size=n, hidden_size=m, weights={}, x=torch.zeros(1, 1, n))
            if not case.expect(facts.is_module, "GatedRNN(n, m) should be an nn.Module"):
                return
            got = {name: tuple(shape) for name, shape in facts.parameters.items()}
            wanted = {"W_c": (m, n), "W_h": (m, m), "W_x": (m, n)}
            case.expect(got == wanted, f"GatedRNN({n}, {m}) has parameters {got}, expected exactly {wanted}")

    def forward64(case: Case):
        for (shape, _, _, expected), facts in zip(runs, fetched()):
            if not check_output(case, facts, expected, shape, torch.float64, FLOAT64):
                return
        _summarise(case, "h and c", [(facts.output[i], expected[i]) for (_, _, _, expected), facts
                                      in zip(runs, fetched()) for i in (0, 1)], len(runs))

    def forward32(case: Case):
        facts = outputs({k: v.float() for k, v in weights32.items()}, x32.float())
        check_output(case, facts, expected32, (2, 6, n32, m32), torch.float32, FLOAT32)

    def graph(case: Case):
        output = fetched()[0].output
        if case.expect(isinstance(output, tuple) and len(output) == 2, "forward should return a pair (h, c)"):
            case.expect(all(isinstance(o, torch.Tensor) and o.facts.has_graph for o in output),
                        "h and c should stay connected to the weights' autograd graph (no .detach(), "
                        "torch.no_grad() or NumPy inside forward), so that the model can be trained")

    shapes = ", ".join(f"({b}, {t}, {n}) with m = {m}" for (b, t, n, m), _, _, _ in runs)
    checker.add("parameters named W_c (m, n), W_h (m, m), W_x (m, n), for random n and m", parameters, 1.0)
    checker.add(f"h and c with given weights in float64, x of shapes {shapes}", forward64, 2.5)
    checker.add(f"h and c in float32 (the output keeps the input's dtype), x (2, 6, {n32})", forward32, 1.0)
    checker.add("h and c keep the autograd graph to the weights", graph, 0.5)


# --- gated_rnn_backward by hand (autograd use found by course.grade.handwritten.autograd_uses) --

def _autograd_gradients(x, weights, dl_dh):
    """The total weight gradients of L = sum(h * dl_dh), by autograd on the reference forward, with
    the reference backward cross-checked against them (a disagreement is our bug)."""
    leaves = {name: w.clone().requires_grad_() for name, w in weights.items()}
    h, _ = gated_rnn_forward(x, leaves["W_c"], leaves["W_h"], leaves["W_x"])
    (h * dl_dh).sum().backward()
    expected = {name: leaves[name].grad for name in GRADIENTS}
    h, c = gated_rnn_forward(x, weights["W_c"], weights["W_h"], weights["W_x"])
    ours = gated_rnn_backward(x, h, c, weights["W_c"], weights["W_h"], weights["W_x"], dl_dh)
    if not all(torch.allclose(ours[name], expected[name], rtol=1e-10, atol=1e-12) for name in GRADIENTS):
        raise AssertionError("reference gated_rnn_backward disagrees with autograd")
    return h, c, expected


@part("hw2_rnn.gated_rnn_backward", "gated_rnn_backward", 6,
      hint="Walk t from T down to 1 carrying g, the gradient reaching h[t]: g = dl_dh[t] + what h[t+1] sent back. "
           "h[t] reaches h[t+1] twice: directly (times c[t+1]) and through the gate c[t+1] = sigmoid(... + W_h h[t]). "
           "Check each gradient against finite differences on a tiny example with dl_dh only at the last step.")
def grade_gated_rnn_backward(subject: Subject, checker: Checker) -> None:
    """Each weight's gradient (a third each) against autograd on the reference forward in float64,
    on five settings (loss at every step, at the last step only, a single step). Autograd in the
    source, or autograd's backward running during the call, zeroes the part."""
    uses = autograd_uses(subject.cell_sources(), ["gated_rnn_backward"])
    if uses:
        checker.disqualify("gated_rnn_backward must compute the gradients by hand, without autograd, but it "
                           "refers to " + "; ".join(uses))
    require_verifiable(subject, checker, ["gated_rnn_backward"], "no autograd")
    settings = []
    for kind in ("dl_dh at every step", "dl_dh only at the last step", "dl_dh at every step",
                 "dl_dh only at the last step"):
        batch, steps, n, m = _draw(checker, 1, 3), _draw(checker, 3, 9), _draw(checker, 1, 5), _draw(checker, 1, 5)
        settings.append((kind, batch, steps, n, m))
    settings.append(("dl_dh at the single step", 2, 1, 3, 4))
    runs = []
    for kind, batch, steps, n, m in settings:
        weights, x = _weights(checker, n, m), checker.randn(batch, steps, n)
        dl_dh = checker.randn(batch, steps, m)
        if kind.startswith("dl_dh only"):
            dl_dh[:, :-1] = 0
        h, c, expected = _autograd_gradients(x, weights, dl_dh)
        described = f"x ({batch}, {steps}, {n}), m = {m}, {kind}"
        args = [x, h, c, weights["W_c"], weights["W_h"], weights["W_x"], dl_dh]
        runs.append((described, args, expected))

    def fetch():
        outcomes = [subject.probe("backward_by_hand", name="gated_rnn_backward", args=args) for _, args, _ in runs]
        if any(outcome.autograd_backward_ran for outcome in outcomes):
            checker.disqualify("gated_rnn_backward must compute the gradients by hand, but autograd's backward "
                               "pass ran while it was called (.backward(), torch.autograd.grad or similar)")
        spawned = sorted({started for outcome in outcomes for started in outcome.spawned})
        if spawned:
            checker.disqualify(f"the rule (no autograd) cannot be verified: gated_rnn_backward started {', '.join(spawned)} "
                               "while it ran, and the grader watches only the calling thread")
        return outcomes

    outcomes = once(fetch)
    for name in GRADIENTS:
        def run(case: Case, name=name):
            for (described, _, expected), outcome in zip(runs, outcomes()):
                grads = outcome.result
                case.expect(not outcome.mutated_args, f"modified its argument(s) {outcome.mutated_args} in place")
                if outcome.autograd_backward_ran:
                    case.fail("autograd's backward pass ran inside gated_rnn_backward")
                    return
                if not case.expect(isinstance(grads, dict) and name in grads,
                                   f"should return a dict with keys {list(GRADIENTS)}, got "
                                   f"{sorted(grads) if isinstance(grads, dict) else type(grads).__name__}"):
                    return
                if not case.expect_tensor(f"dL/d{name}", grads[name], expected[name], dtype=torch.float64, **FLOAT64):
                    case.fail(f"on {described}")
                    return
            _summarise(case, f"dL/d{name}", [(outcome.result[name], expected[name])
                                              for (_, _, expected), outcome in zip(runs, outcomes())], len(runs))
        checker.add(f"dL/d{name} against autograd (float64) on {len(runs)} settings, recurrence included", run)


# ---------------------------------------------------------------------------------------------
# Section 2: echo

# 500 strings of length 15-25 hold about 8,000 echoed characters: the standard error of the measured accuracy
# near 99.5 % is then about 0.08 %, so a model that truly echoes 99.5 % is never measured below 99 %.
NUM_GRADED_STRINGS = 500
ACCURACY_TIERS = ((0.50, 1.0), (0.80, 2.0), (0.95, 2.0), (0.99, 4.0))  # (bar, points of 10): partial credit
CONTRACT_WEIGHT = 1.0  # the remaining point of 10: the interface of a fresh instance
CONTRACT_HIDDEN_SIZE = 24  # hidden size of the fresh instance the interface is checked on
# Without usable weights the grader trains a fresh model of the student's class itself, briefly (a published
# learn-check), for at most half of the accuracy points: (bar, points of 10).
LEARN_BARS = ((0.50, 1.5), (0.80, 1.5), (0.95, 1.5))
LEARN_STEPS, LEARN_BATCH, LEARN_LENGTH, LEARN_RATE = 300, 32, 25, 1e-2
LEARN_ARGS = {"GRUMemory": [64], "VariableDelayGRUMemory": [128, echo_data.MAX_DELAY]}


def _contract_case(subject: Subject, checker: Checker, class_name: str, args: list, variable: bool):
    """Forward shapes and ``test_run`` of a fresh ``class_name(*args)``: logits (B, L, 27), answers that
    are strings of the input's length and equal the argmax of the model's own logits."""
    batch, length = 5, _draw(checker, 10, 20)
    indices = echo_data.random_indices(batch, length, checker.generator)  # (B, L)
    strings = [echo_data.decode(row) for row in indices]
    delays = echo_data.random_delays(batch, checker.generator) if variable else None
    x = echo_data.one_hot(indices)  # (B, L, 27)

    def run(case: Case):
        facts = subject.probe("echo_contract", class_name=class_name, args=args, x=x, delays=delays, strings=strings,
                              string_delays=None if delays is None else delays.tolist())
        logits, answers = facts.logits, facts.answers
        call = f"{class_name}({', '.join(map(str, args))})"
        shape_ok = case.expect(isinstance(logits, torch.Tensor) and tuple(logits.shape) == (batch, length, 27)
                               and logits.is_floating_point(),
                               f"{call}.forward on one-hot x (B, L, 27) = ({batch}, {length}, 27)"
                               f"{' with delays (B,)' if variable else ''} returned "
                               f"{describe_shape(logits) if isinstance(logits, torch.Tensor) else type(logits).__name__}, "
                               f"expected logits ({batch}, {length}, 27)")
        case.expect(facts.parameters > 0, f"{call} has no trainable parameters")
        if variable:
            case.expect(same_value(facts.max_delay, args[1]), f"{call}.max_delay is {shown(facts.max_delay)}, expected {args[1]}")
        if not case.expect(isinstance(answers, list) and all(isinstance(a, str) and len(a) == length for a in answers),
                           f"test_run should return a string as long as its input ({length} characters), got "
                           f"{answers[0]!r}" if isinstance(answers, list) and answers else "test_run returned nothing"):
            return
        if shape_ok:
            own = [echo_data.decode(row) for row in logits.argmax(dim=-1)]
            case.expect(answers == own, "test_run should render the argmax of the model's own logits (blank as a "
                                        f"space); for {strings[0]!r} it returned {answers[0]!r}, the logits say {own[0]!r}")
    return run


def _graded_strings(checker: Checker, variable: bool) -> tuple[list[str], list[int], str]:
    """Fresh strings (and delays) to echo, and how to describe them."""
    strings = echo_data.random_strings(NUM_GRADED_STRINGS, checker.generator)
    delays = echo_data.random_delays(NUM_GRADED_STRINGS, checker.generator).tolist() if variable \
        else [echo_data.DELAY] * NUM_GRADED_STRINGS
    scored = sum(max(len(s) - d, 0) for s, d in zip(strings, delays))
    what = (f"{NUM_GRADED_STRINGS} fresh strings of length {echo_data.TEST_MIN_LENGTH}-{echo_data.TEST_MAX_LENGTH}, "
            + (f"delays 0-{echo_data.MAX_DELAY}" if variable else f"delay {echo_data.DELAY}")
            + f", {scored} echoed characters")
    return strings, delays, what


def _scored(answers, strings: list[str], delays: list[int], who: str):
    """The character accuracy of ``answers`` and the first string answered wrongly (None: none)."""
    if not isinstance(answers, list) or len(answers) != len(strings):
        raise StudentError(f"{who}: test_run did not answer every string")
    bad = [a for a in answers if not isinstance(a, str)]
    if bad:
        raise StudentError(f"{who}: test_run should return a str, got {type(bad[0]).__name__}")
    wrong = next(((s, d, a) for s, d, a in zip(strings, delays, answers)
                  if a[d:len(s)] != s[:max(len(s) - d, 0)]), None)
    return echo_data.character_accuracy(answers, strings, delays), wrong


def _accuracy_cases(subject: Subject, checker: Checker, model_name: str, class_name: str, variable: bool) -> None:
    """The trained model's character accuracy on fresh strings, one case per tier of ACCURACY_TIERS,
    from the weights submitted as ``model_name``; without usable weights, the learn-check instead."""
    strings, delays, what = _graded_strings(checker, variable)
    try:
        submitted = subject.submission.model(model_name)
        facts = subject.probe("echo_with_weights", class_name=class_name, recorded=submitted.kwargs,
                              state=submitted.state, strings=strings, delays=delays if variable else None)
        if facts.problem:
            raise StudentError(f"the submitted weights of {model_name} do not fit your {class_name} class: {facts.problem}")
    except StudentError as error:
        _learn_check(subject, checker, class_name, variable, strings, delays, what, problem=str(error))
        return
    who = f"{class_name}({', '.join(f'{k}={v}' for k, v in facts.kwargs.items())}) with your trained weights"
    accuracy, wrong = _scored(facts.answers, strings, delays, who)
    for bar, weight in ACCURACY_TIERS:
        def run(case: Case, bar=bar):
            case.evidence.append(f"character accuracy {accuracy:.2%} of {who}")
            problem = f"character accuracy {accuracy:.2%} of {who}; needs {bar:.0%}"
            if wrong is not None and bar == ACCURACY_TIERS[-1][0]:
                s, d, a = wrong
                problem += (f" (e.g. {s!r}" + (f" with delay {d}" if variable else "")
                            + f" should give {echo_data.expected_output(s, d)!r}, got {a!r})")
            case.expect(accuracy >= bar, problem)
        checker.add(f"your trained {model_name} echoes at least {bar:.0%} of the characters of {what}", run, weight)


def _learn_check(subject: Subject, checker: Checker, class_name: str, variable: bool, strings, delays, what,
                 problem: str) -> None:
    """Without usable weights: a failed case saying why (half of the accuracy points), and a fresh model of
    the student's class trained by the grader for LEARN_STEPS steps, scored by LEARN_BARS."""
    checker.add("trained weights submitted and evaluated", lambda case: case.fail(problem),
                sum(w for _, w in ACCURACY_TIERS) - sum(w for _, w in LEARN_BARS))
    training = torch.Generator().manual_seed(int(checker.randint(0, 10_000, (1,))))
    indices = echo_data.random_indices(LEARN_STEPS * LEARN_BATCH, LEARN_LENGTH, training).reshape(
        LEARN_STEPS, LEARN_BATCH, LEARN_LENGTH)  # (S, B, L)
    train_delays = (echo_data.random_delays(LEARN_STEPS * LEARN_BATCH, training) if variable
                    else torch.full((LEARN_STEPS * LEARN_BATCH,), echo_data.DELAY)).reshape(LEARN_STEPS, LEARN_BATCH)
    args = LEARN_ARGS[class_name]
    who = f"a fresh {class_name}({', '.join(map(str, args))}) trained by the grader for {LEARN_STEPS} Adam steps"

    def fetch():
        facts = subject.probe("train_echo", class_name=class_name, args=args, indices=indices, delays=train_delays,
                              lr=LEARN_RATE, strings=strings, string_delays=delays if variable else None)
        return _scored(facts.answers, strings, delays, who)[0]

    measured = once(fetch)
    for bar, weight in LEARN_BARS:
        def run(case: Case, bar=bar):
            accuracy = measured()
            case.evidence.append(f"character accuracy {accuracy:.2%} of {who}")
            case.expect(accuracy >= bar, f"character accuracy {accuracy:.2%} of {who}; needs {bar:.0%}")
        checker.add(f"learn-check: {who} echoes at least {bar:.0%} of the characters of {what}", run, weight)


@part("hw2_rnn.gru_memory", "GRUMemory: echo after a delay of 4", 10, kind="weights",
      hint="Train until the validation accuracy on fresh strings is above 99 % (Adam with a learning rate near "
           "1e-2, gradient clipping and a few hundred steps of 64 strings of length 25 are enough); test_run "
           "must one-hot encode the string, run the model and decode the argmax at every step.")
def grade_gru_memory(subject: Subject, checker: Checker) -> None:
    """1 point of 10 for the interface of a fresh GRUMemory(24), then the character accuracy on 500
    fresh strings of the model rebuilt from the weights submitted as ``echo_model``: 1, 2, 2 and 4 points
    for 50, 80, 95 and 99 %. Without usable weights: the reason (4.5 points lost) and a learn-check of
    the class (1.5 points for each of 50, 80 and 95 %)."""
    checker.add(f"GRUMemory({CONTRACT_HIDDEN_SIZE}): forward maps (B, L, 27) to logits (B, L, 27); test_run "
                "returns the decoded argmax", _contract_case(subject, checker, "GRUMemory", [CONTRACT_HIDDEN_SIZE],
                                                             variable=False), CONTRACT_WEIGHT)
    _accuracy_cases(subject, checker, "echo_model", "GRUMemory", variable=False)


@part("hw2_rnn.variable_delay_gru_memory", "VariableDelayGRUMemory: echo after a delay of 0 to 8", 10, kind="weights",
      hint="The model must know the delay at every step: feed it with the input (e.g. one-hot, concatenated to "
           "each symbol) and consider one read-out per delay; train on all delays 0..8 (the long ones are the "
           "hardest) until the validation accuracy is above 99 %.")
def grade_variable_delay_gru_memory(subject: Subject, checker: Checker) -> None:
    """As grade_gru_memory, for VariableDelayGRUMemory(24, 8) and the weights submitted as
    ``variable_echo_model``, on fresh strings with delays drawn from 0..8."""
    args = [CONTRACT_HIDDEN_SIZE, echo_data.MAX_DELAY]
    checker.add(f"VariableDelayGRUMemory({args[0]}, {args[1]}): forward(x, delays) maps (B, L, 27) and (B,) to "
                "logits (B, L, 27); max_delay; test_run(s, delay) returns the decoded argmax",
                _contract_case(subject, checker, "VariableDelayGRUMemory", args, variable=True), CONTRACT_WEIGHT)
    _accuracy_cases(subject, checker, "variable_echo_model", "VariableDelayGRUMemory", variable=True)
