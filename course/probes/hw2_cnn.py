"""Probes of hw2_cnn.ipynb, section 5: build, inspect and train the student's networks, call the
training helpers on a linear model the grader specifies."""

import torch

from .codec import record
from .common import build_with_weights
from .runtime import lookup, probe


def _graph_facts(output):
    """How often each operator appears in the autograd graph behind ``output``, and whether the graph
    adds two computed tensors (a residual connection: neither side a parameter)."""
    counts, residual, seen, stack = {}, False, set(), [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        counts[type(node).__name__] = counts.get(type(node).__name__, 0) + 1
        children = [child for child, _ in node.next_functions]
        if type(node).__name__.startswith("AddBackward"):
            computed = [c for c in children if c is not None and type(c).__name__ != "AccumulateGrad"]
            residual = residual or len(computed) == 2
        stack.extend(children)
    return counts, residual


@record
class ModelFacts:
    """A fresh model and one training-mode forward pass of it.

    Fields:
        output: the forward pass's output on the seeded batch.
        modules: the type names of the model's modules, sorted.
        parameters: its number of parameters.
        graph: autograd node type name -> count, over the pass's graph.
        residual: whether the graph adds two computed tensors.
    """

    output: object
    modules: list
    parameters: int
    graph: dict
    residual: bool


@probe
def inspect_model(namespace, name, kwargs, input_shape, seed) -> ModelFacts:
    """Build ``name(**kwargs)`` and run one training-mode forward pass on a seeded batch."""
    torch.manual_seed(seed)
    model = lookup(namespace, name)(**kwargs)
    model.train()
    output = model(torch.randn(*input_shape))
    graph, residual = _graph_facts(output) if isinstance(output, torch.Tensor) and output.grad_fn else ({}, False)
    return ModelFacts(output, sorted({type(m).__name__ for m in model.modules()}),
                      sum(p.numel() for p in model.parameters()), graph, residual)


@record
class TrainedClassifier:
    """A fresh classifier trained by the grader's procedure: logits on held-out images, loss curve."""

    logits: object
    losses: list


@probe
def train_classifier(namespace, name, kwargs, images, labels, test_images, steps, batch_size, lr, seed) -> TrainedClassifier:
    """Train a fresh ``name(**kwargs)`` with Adam on (images, labels) for ``steps`` minibatches and
    return its logits on ``test_images`` (whose labels stay with the grader) and the loss curve."""
    torch.manual_seed(seed)
    model = lookup(namespace, name)(**kwargs)
    losses = train_minibatches(model, images, labels, steps, batch_size, lr, seed)
    with torch.no_grad():
        logits = torch.cat([model(chunk) for chunk in test_images.split(256)])
    return TrainedClassifier(logits, losses)


def train_minibatches(model, images, labels, steps: int, batch_size: int, lr: float, seed: int) -> list[float]:
    """Train ``model`` with Adam on ``steps`` random minibatches of (images (N, C, H, W), labels (N,)) drawn
    with ``seed``; leaves it in eval mode and returns the loss of every step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    for _ in range(steps):
        index = torch.randint(0, len(images), (batch_size,), generator=generator)
        loss = torch.nn.functional.cross_entropy(model(images[index]), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


def _linear_model(weight, bias):
    """Flatten -> Linear with the given parameters (its own dtype)."""
    layer = torch.nn.Linear(weight.shape[1], weight.shape[0]).to(weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return torch.nn.Sequential(torch.nn.Flatten(), layer)


@record
class LossAndCorrect:
    """What ``get_loss_and_correct`` returned, and the weight gradient of ``loss.backward()``."""

    loss: object
    loss_type: str
    n_correct: object
    n_correct_type: str
    weight_grad: object


@probe
def loss_and_correct(namespace, weight, bias, images, labels) -> LossAndCorrect:
    """Call ``get_loss_and_correct`` on a linear model with the given parameters; report the loss,
    the count, their types, and the weight gradient that ``loss.backward()`` then produces."""
    model = _linear_model(weight, bias)
    loss, n_correct = lookup(namespace, "get_loss_and_correct")(
        model, (images.clone(), labels.clone()), torch.nn.CrossEntropyLoss(), torch.device("cpu"))
    weight_grad = None
    if isinstance(loss, torch.Tensor) and loss.grad_fn is not None:
        loss.backward()
        weight_grad = model[1].weight.grad
    return LossAndCorrect(loss, type(loss).__name__, n_correct, type(n_correct).__name__, weight_grad)


@record
class Steps:
    """The model's parameters after each call of ``step``."""

    after: list


@probe
def two_steps(namespace, weight, bias, batches, lr) -> Steps:
    """Two calls of ``step(loss, optimizer)`` with plain SGD on a linear model; the weights after each."""
    model = _linear_model(weight, bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    step = lookup(namespace, "step")
    after = []
    for images, labels in batches:
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        step(loss, optimizer)
        after.append([p.detach().clone() for p in model.parameters()])
    return Steps(after)


@record
class TableNet:
    """``build_table_net()``: its type, its children's types, its parameter shapes, and its output
    with the grader's parameters (None when their shapes do not fit)."""

    type: str
    layers: list
    shapes: list
    output: object


@probe
def table_net(namespace, parameters, images) -> TableNet:
    """Build ``build_table_net()``, describe its layers, load ``parameters`` in order (when their
    shapes fit) and return its output on ``images``."""
    net = lookup(namespace, "build_table_net")()
    layers = [type(layer).__name__ for layer in net.children()]
    shapes = [tuple(p.shape) for p in net.parameters()]
    output = None
    if shapes == [tuple(p.shape) for p in parameters]:
        with torch.no_grad():
            for target, value in zip(net.parameters(), parameters):
                target.copy_(value)
            output = net(images)
    return TableNet(type(net).__name__, layers, shapes, output)


@record
class SubmittedClassifier:
    """The student's model rebuilt from their class with the submitted weights: its logits on the
    grader's images (None when the weights did not fit), the constructor arguments that fit, or why
    no arguments did."""

    logits: object
    kwargs: dict
    problem: str


@probe
def classify_with_weights(namespace, class_name, recorded, state, images, mean, std) -> SubmittedClassifier:
    """Rebuild ``class_name`` with the submitted ``state`` (see ``build_with_weights``) and classify
    ``images`` ((N, 32, 32, 3) uint8, normalised here by the notebook's ``mean`` and ``std``) in eval
    mode, 500 at a time; the labels stay with the grader."""
    model, kwargs, problem = build_with_weights(namespace, class_name, recorded, state)
    if model is None:
        return SubmittedClassifier(None, {}, problem)
    x = images.permute(0, 3, 1, 2).float().div(255.0)  # (N, 3, 32, 32)
    x = (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    with torch.no_grad():
        logits = torch.cat([model(chunk) for chunk in x.split(500)])  # (N, classes)
    return SubmittedClassifier(logits, kwargs, "")
