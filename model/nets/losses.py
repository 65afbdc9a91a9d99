"""GAN losses as small pure functions of logits (and, for the penalty, of a critic and images).

Each returns a scalar to minimise. D losses take the logits of real and fake images; G losses take
the logits of fakes. Following rosinality/stylegan2-pytorch, nothing here touches optimisers or
``requires_grad``: the training loop owns that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F

from model.errors import UserError

LossName = Literal["dcgan", "hinge", "wgan-gp"]


def d_nonsaturating(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits: -log sigmoid(real) - log(1 - sigmoid(fake))."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(fake): strong gradients while D still rejects the fakes (Goodfellow 2014)."""
    return F.softplus(-fake_logits).mean()


def d_hinge(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def g_hinge(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


def d_wasserstein(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The critic's estimate of -W(real, fake), to minimise."""
    return fake_logits.mean() - real_logits.mean()


def g_wasserstein(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    mix: torch.Tensor | None = None,
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad_x critic(x)||_2 - 1)^2] on random mixes.

    real, fake: (B, C, H, W); mix: (B,) weights in [0, 1], drawn uniformly when not given.
    The graph is kept (create_graph) so that the penalty can be minimised.
    """
    if mix is None:
        mix = torch.rand(real.shape[0], device=real.device, dtype=real.dtype)
    w = mix.view(-1, 1, 1, 1)
    x = (w * real.detach() + (1 - w) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def lecam(real_logits: torch.Tensor, fake_logits: torch.Tensor, ema_real: torch.Tensor,
          ema_fake: torch.Tensor) -> torch.Tensor:
    """LeCam regulariser (Tseng et al., CVPR 2021), to add to D's loss with a weight.

    Penalises real logits above the moving average of the fake ones and fake logits below the
    moving average of the real ones: D's two outputs are held near each other instead of
    drifting apart, which is how a discriminator overfits a small data set. ema_real and
    ema_fake are scalars (moving averages of D's mean outputs), constants here.
    """
    return (F.relu(real_logits - ema_fake.detach()).pow(2).mean()
            + F.relu(ema_real.detach() - fake_logits).pow(2).mean())


def update_lecam_averages(averages: torch.Tensor, real_logits: torch.Tensor,
                          fake_logits: torch.Tensor, decay: float) -> torch.Tensor:
    """The next (2,) [real, fake] moving averages of D's mean outputs; a zero-step start
    (averages all NaN) takes the first batch's means as they are."""
    means = torch.stack([real_logits.detach().float().mean(), fake_logits.detach().float().mean()])
    if torch.isnan(averages).any():
        return means
    return decay * averages + (1 - decay) * means


def reconstruction(rebuilt: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """FastGAN's self-supervised D term: how far the decoders' images are from the real ones.
    Mean squared error (the paper uses LPIPS, whose pretrained weights cannot be fetched here).
    """
    return F.mse_loss(rebuilt.float(), target.float())


_D_LOSSES = {"dcgan": d_nonsaturating, "hinge": d_hinge, "wgan-gp": d_wasserstein}
_G_LOSSES = {"dcgan": g_nonsaturating, "hinge": g_hinge, "wgan-gp": g_wasserstein}


def _known(name: str) -> str:
    if name not in _D_LOSSES:
        raise UserError(f"unknown loss {name!r}; choose one of {', '.join(_D_LOSSES)} "
                        "(--loss)")
    return name


def d_loss_fn(name: LossName) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return _D_LOSSES[_known(name)]


def g_loss_fn(name: LossName) -> Callable[[torch.Tensor], torch.Tensor]:
    return _G_LOSSES[_known(name)]
