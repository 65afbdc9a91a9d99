"""Tests for model.nets.losses: hand-computed values of each loss and the WGAN-GP penalty."""

from __future__ import annotations

import math

import pytest
import torch

from model.nets import losses
from model.nets.losses import (
    d_hinge,
    d_loss_fn,
    d_nonsaturating,
    d_wasserstein,
    g_hinge,
    g_loss_fn,
    g_nonsaturating,
    g_wasserstein,
    gradient_penalty,
)

LOG2 = math.log(2.0)


def _t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def _close(actual: torch.Tensor, expected: float, tol: float = 1e-9) -> bool:
    return abs(actual.item() - expected) <= tol


# ---------------------------------------------------------------- non-saturating (dcgan)


def test_nonsaturating_at_zero_logits_is_log2_per_term():
    # sigmoid(0) = 1/2: -log(1/2) for the real term and -log(1 - 1/2) for the fake term.
    zeros = torch.zeros(5, dtype=torch.float64)
    assert _close(d_nonsaturating(zeros, zeros), 2 * LOG2)
    assert _close(g_nonsaturating(zeros), LOG2)


def test_nonsaturating_confident_correct_d_is_near_zero():
    real = _t(30.0, 40.0, 50.0)  # D is sure the reals are real
    fake = _t(-30.0, -40.0, -50.0)  # ... and the fakes fake
    assert 0.0 <= d_nonsaturating(real, fake).item() < 1e-12
    # G, fooled nowhere, pays about |logit| per sample: -log sigmoid(-x) = x + log(1 + e^-x)
    assert _close(g_nonsaturating(fake), 40.0, tol=1e-9)


def test_nonsaturating_hand_values_on_mixed_logits():
    real, fake = _t(1.0, -2.0), _t(0.5, 3.0)

    def softplus(v: float) -> float:
        return math.log1p(math.exp(v))

    expected_d = (softplus(-1.0) + softplus(2.0)) / 2 + (softplus(0.5) + softplus(3.0)) / 2
    expected_g = (softplus(-0.5) + softplus(-3.0)) / 2
    assert _close(d_nonsaturating(real, fake), expected_d)
    assert _close(g_nonsaturating(fake), expected_g)
    # the same as binary cross-entropy written out with sigmoids
    bce = -(torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean())
    assert _close(d_nonsaturating(real, fake), bce.item(), tol=1e-12)


def test_nonsaturating_is_stable_for_huge_logits():
    real, fake = _t(-1000.0), _t(1000.0)  # D completely wrong: a naive log(sigmoid) gives inf
    d = d_nonsaturating(real, fake)
    assert torch.isfinite(d)
    assert _close(d, 2000.0, tol=1e-9)


# ---------------------------------------------------------------- hinge


def test_hinge_hand_values():
    # real 0.5 -> relu(1 - 0.5) = 0.5; fake -2 -> relu(1 - 2) = 0
    assert _close(d_hinge(_t(0.5), _t(-2.0)), 0.5)
    # real 2 -> 0 (past the margin); fake 0.25 -> 1.25
    assert _close(d_hinge(_t(2.0), _t(0.25)), 1.25)
    # means over the batch: real (0.5 + 0) / 2, fake (0 + 3) / 2
    assert _close(d_hinge(_t(0.5, 1.5), _t(-1.0, 2.0)), 0.25 + 1.5)


def test_hinge_is_zero_beyond_the_margins():
    assert d_hinge(_t(1.0, 5.0), _t(-1.0, -7.0)).item() == 0.0


def test_g_hinge_is_minus_mean_fake_logit():
    assert _close(g_hinge(_t(-2.0, 0.5, 4.5)), -1.0)


# ---------------------------------------------------------------- wasserstein


def test_wasserstein_hand_values():
    real, fake = _t(3.0, 1.0), _t(-1.0, 0.0)
    # mean(fake) - mean(real) = -0.5 - 2
    assert _close(d_wasserstein(real, fake), -2.5)
    assert _close(g_wasserstein(fake), 0.5)


def test_wasserstein_is_unbounded_unlike_hinge():
    real, fake = _t(100.0), _t(-100.0)
    assert _close(d_wasserstein(real, fake), -200.0)
    assert d_hinge(real, fake).item() == 0.0


def test_d_losses_reward_separating_reals_from_fakes():
    good = (_t(3.0, 2.0), _t(-3.0, -2.0))
    bad = (_t(-3.0, -2.0), _t(3.0, 2.0))
    for fn in (d_nonsaturating, d_hinge, d_wasserstein):
        assert fn(*good).item() < fn(*bad).item(), fn.__name__


# ---------------------------------------------------------------- gradient penalty


def _linear_critic(w: torch.Tensor, b: float = 0.7):
    def critic(x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ w + b

    return critic


def _images(seed: int, shape=(4, 3, 5, 5)) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    real = torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1
    fake = torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1
    return real, fake


def _w_with_norm(norm: float, n: int = 3 * 5 * 5, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, generator=g, dtype=torch.float64)
    return w * (norm / w.norm())


@pytest.mark.parametrize("mix", [None, "zeros", "ones", "halves", "random"])
@pytest.mark.parametrize(("norm", "expected"), [(3.0, 4.0), (1.0, 0.0), (0.5, 0.25)])
def test_gradient_penalty_of_linear_critic_is_exact(norm, expected, mix):
    # grad_x <w, x> + b = w everywhere, so the penalty is (||w|| - 1)^2 for any mix.
    real, fake = _images(1)
    mixes = {
        None: None,
        "zeros": torch.zeros(4, dtype=torch.float64),
        "ones": torch.ones(4, dtype=torch.float64),
        "halves": torch.full((4,), 0.5, dtype=torch.float64),
        "random": torch.tensor([0.1, 0.9, 0.33, 0.7], dtype=torch.float64),
    }
    gp = gradient_penalty(_linear_critic(_w_with_norm(norm)), real, fake, mixes[mix])
    assert gp.dim() == 0
    assert _close(gp, expected, tol=1e-10)


def test_gradient_penalty_is_differentiable_in_critic_weights():
    norm = 3.0
    w = _w_with_norm(norm, seed=5).requires_grad_(True)
    real, fake = _images(2)
    gp = gradient_penalty(_linear_critic(w), real, fake)
    (grad_w,) = torch.autograd.grad(gp, w)
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    expected = 2 * (norm - 1) * w.detach() / norm
    torch.testing.assert_close(grad_w, expected, rtol=1e-10, atol=1e-12)


def test_gradient_penalty_gradient_vanishes_at_unit_norm():
    w = _w_with_norm(1.0, seed=6).requires_grad_(True)
    real, fake = _images(3)
    gp = gradient_penalty(_linear_critic(w), real, fake)
    gp.backward()
    assert w.grad is not None
    assert w.grad.abs().max().item() < 1e-10


def test_gradient_penalty_uses_mix_weights_on_real():
    # critic(x) = ||x||^2 / 2 has gradient x, so the penalty is (||x_mix|| - 1)^2 per sample.
    real = torch.ones(2, 1, 4, 4, dtype=torch.float64)  # ||real|| = 4 per sample
    fake = torch.zeros_like(real)
    mix = torch.tensor([1.0, 0.25], dtype=torch.float64)

    def critic(x: torch.Tensor) -> torch.Tensor:
        return (x**2).flatten(1).sum(1) / 2

    gp = gradient_penalty(critic, real, fake, mix)
    # sample 0: x = real, ||x|| = 4 -> 9; sample 1: x = real / 4, ||x|| = 1 -> 0.
    # (weights on fake instead would give (1 + 4) / 2)
    assert _close(gp, (9.0 + 0.0) / 2, tol=1e-12)


def test_gradient_penalty_does_not_backpropagate_into_images():
    real, fake = _images(4)
    real.requires_grad_(True)
    fake.requires_grad_(True)
    w = _w_with_norm(2.0).requires_grad_(True)
    gradient_penalty(_linear_critic(w), real, fake).backward()
    assert real.grad is None
    assert fake.grad is None
    assert w.grad is not None


def test_gradient_penalty_draws_mix_on_the_images_dtype():
    real, fake = _images(5)
    gp = gradient_penalty(_linear_critic(_w_with_norm(2.0)), real, fake)
    assert gp.dtype == torch.float64
    assert _close(gp, 1.0, tol=1e-10)


# ---------------------------------------------------------------- lookup by name


@pytest.mark.parametrize(
    ("name", "d_fn", "g_fn"),
    [
        ("dcgan", d_nonsaturating, g_nonsaturating),
        ("hinge", d_hinge, g_hinge),
        ("wgan-gp", d_wasserstein, g_wasserstein),
    ],
)
def test_loss_fn_names(name, d_fn, g_fn):
    assert d_loss_fn(name) is d_fn
    assert g_loss_fn(name) is g_fn


@pytest.mark.parametrize("name", ["wgan", "DCGAN", "", "nonsaturating"])
def test_an_unknown_loss_name_is_one_line_naming_the_known_ones(name):
    from model.errors import UserError

    for fn in (d_loss_fn, g_loss_fn):
        with pytest.raises(UserError) as caught:
            fn(name)
        message = str(caught.value)
        assert "\n" not in message and repr(name) in message
        assert all(known in message for known in ("dcgan", "hinge", "wgan-gp"))


def test_every_declared_loss_name_resolves():
    names = losses.LossName.__args__
    assert set(names) == {"dcgan", "hinge", "wgan-gp"}
    for name in names:
        assert callable(d_loss_fn(name))
        assert callable(g_loss_fn(name))
