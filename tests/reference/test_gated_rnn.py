"""The reference gated RNN of hw2_rnn: forward against a plain loop, hand-written backward against
autograd in float64, and the Jacobian measurement against autograd."""

import pytest
import torch

from course.reference.gated_rnn import GatedRNN, gated_rnn_backward, hidden_jacobian_norms

# Sizes (B, T, n, m) for the gradient checks: a single step, a single sequence, n > m and n < m.
SIZES = [(1, 1, 3, 2), (1, 6, 2, 4), (3, 5, 4, 3), (4, 9, 3, 7), (2, 12, 5, 5)]


def float64_model(n: int, m: int, seed: int) -> GatedRNN:
    torch.manual_seed(seed)
    return GatedRNN(n, m).double()


def plain_loop_forward(model: GatedRNN, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The equations written out one sequence and one step at a time, with matrix-vector products."""
    batch_size, num_steps, _ = x.shape
    h = torch.zeros(batch_size, num_steps, model.hidden_size, dtype=x.dtype)
    c = torch.zeros_like(h)
    for b in range(batch_size):
        h_prev = torch.zeros(model.hidden_size, dtype=x.dtype)
        for t in range(num_steps):
            c_t = torch.sigmoid(model.W_c @ x[b, t] + model.W_h @ h_prev)
            h_prev = c_t * h_prev + (1 - c_t) * (model.W_x @ x[b, t])
            h[b, t], c[b, t] = h_prev, c_t
    return h, c


def autograd_gradients(model: GatedRNN, x: torch.Tensor, dl_dh: torch.Tensor) -> dict[str, torch.Tensor]:
    """Autograd's gradients of the loss sum(h * dl_dh), whose direct gradient at h is dl_dh."""
    h, _ = model(x)
    grads = torch.autograd.grad((h * dl_dh).sum(), [model.W_x, model.W_c, model.W_h])
    return dict(zip(["W_x", "W_c", "W_h"], grads))


def test_does_the_module_have_the_named_parameters_and_shapes_of_the_spec():
    model = GatedRNN(input_size=3, hidden_size=5)
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes == {"W_c": (5, 3), "W_h": (5, 5), "W_x": (5, 3)}


@pytest.mark.parametrize("batch_size, num_steps, n, m", SIZES)
def test_does_forward_match_a_plain_loop_over_the_equations(batch_size, num_steps, n, m):
    model = float64_model(n, m, seed=0)
    x = torch.randn(batch_size, num_steps, n, dtype=torch.float64)
    h, c = model(x)
    h_loop, c_loop = plain_loop_forward(model, x)
    assert h.shape == c.shape == (batch_size, num_steps, m)
    torch.testing.assert_close(h, h_loop)
    torch.testing.assert_close(c, c_loop)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_does_forward_keep_the_input_dtype_and_device(dtype):
    model = GatedRNN(3, 4)
    x = torch.randn(2, 5, 3, dtype=dtype)
    h, c = model(x)
    assert h.dtype == c.dtype == dtype
    assert h.device == c.device == x.device


def test_do_gradients_reach_float32_weights_from_a_float64_input():
    model = GatedRNN(3, 4)
    h, _ = model(torch.randn(2, 5, 3, dtype=torch.float64))
    h.sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())


@pytest.mark.parametrize("batch_size, num_steps, n, m", SIZES)
def test_does_backward_match_autograd_in_float64(batch_size, num_steps, n, m):
    model = float64_model(n, m, seed=1)
    x = torch.randn(batch_size, num_steps, n, dtype=torch.float64)
    dl_dh = torch.randn(batch_size, num_steps, m, dtype=torch.float64)
    h, c = model(x)
    grads = gated_rnn_backward(x, h.detach(), c.detach(), model.W_c, model.W_h, model.W_x, dl_dh)
    expected = autograd_gradients(model, x, dl_dh)
    assert grads.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(grads[name], expected[name], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("num_steps", [2, 8])
def test_does_backward_carry_a_last_step_gradient_back_through_the_recurrence(num_steps):
    model = float64_model(3, 4, seed=2)
    x = torch.randn(2, num_steps, 3, dtype=torch.float64)
    dl_dh = torch.zeros(2, num_steps, 4, dtype=torch.float64)
    dl_dh[:, -1] = torch.randn(2, 4, dtype=torch.float64)
    h, c = model(x)
    grads = gated_rnn_backward(x, h.detach(), c.detach(), model.W_c, model.W_h, model.W_x, dl_dh)
    expected = autograd_gradients(model, x, dl_dh)
    assert expected["W_h"].abs().max() > 1e-3  # the check is not vacuous: W_h only acts through h[t-1]
    for name in expected:
        torch.testing.assert_close(grads[name], expected[name], rtol=1e-10, atol=1e-12)


def test_does_backward_keep_the_dtype_and_build_no_graph():
    model = GatedRNN(3, 4)
    x = torch.randn(2, 5, 3)
    h, c = model(x)
    grads = gated_rnn_backward(x, h, c, model.W_c, model.W_h, model.W_x, torch.randn(2, 5, 4))
    assert all(g.dtype == torch.float32 and not g.requires_grad for g in grads.values())


def test_are_the_inputs_left_unmodified():
    model = float64_model(3, 4, seed=3)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    dl_dh = torch.randn(2, 6, 4, dtype=torch.float64)
    h, c = (t.detach() for t in model(x))
    inputs = [x, h, c, model.W_c, model.W_h, model.W_x, dl_dh]
    before = [t.detach().clone() for t in inputs]
    gated_rnn_backward(*inputs)
    model(x)
    for tensor, copy in zip(inputs, before):
        assert torch.equal(tensor, copy)


@pytest.mark.parametrize("w_h_scale", [1.0, 4.0])
def test_do_jacobian_norms_match_autograd_jacobians(w_h_scale):
    model = float64_model(3, 4, seed=4)
    x = torch.randn(1, 7, 3, dtype=torch.float64)
    lengths = [1, 2, 5, 7]
    norms = hidden_jacobian_norms(model, x, lengths, w_h_scale=w_h_scale)
    W_c, W_h, W_x = model.W_c.detach(), w_h_scale * model.W_h.detach(), model.W_x.detach()
    h1 = (1 - torch.sigmoid(W_c @ x[0, 0])) * (W_x @ x[0, 0])  # h[0] = 0, so W_h plays no part yet

    def h_last_from_h1(h_start: torch.Tensor, length: int) -> torch.Tensor:
        h_prev = h_start
        for t in range(1, length):
            c_t = torch.sigmoid(W_c @ x[0, t] + W_h @ h_prev)
            h_prev = c_t * h_prev + (1 - c_t) * (W_x @ x[0, t])
        return h_prev

    expected = [
        torch.linalg.matrix_norm(torch.autograd.functional.jacobian(lambda h: h_last_from_h1(h, T), h1))
        for T in lengths
    ]
    assert norms.shape == (1, len(lengths))
    torch.testing.assert_close(norms[0], torch.stack(expected))


def test_is_the_jacobian_the_product_of_the_gates_when_w_h_is_zero():
    model = float64_model(4, 6, seed=5)
    with torch.no_grad():
        model.W_h.zero_()
    x = torch.randn(2, 10, 4, dtype=torch.float64)
    norms = hidden_jacobian_norms(model, x, [10])
    _, c = model(x)
    gate_product = c[:, 1:].prod(dim=1)  # (B, m): dh[T]/dh[1] = diag(c[T] ... c[2]) without W_h
    torch.testing.assert_close(norms[:, 0], gate_product.norm(dim=1).detach())


def test_is_a_length_beyond_the_input_rejected():
    with pytest.raises(ValueError, match="1..5"):
        hidden_jacobian_norms(GatedRNN(2, 3), torch.randn(1, 5, 2), [6])
