"""The models a run trains and one training step: n_critic D steps, then one G step."""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from model.data.images import epoch_permutation, random_flip, to_float
from model.nets.augment import diff_augment
from model.nets.build import build_discriminator, build_generator, build_reconstructors
from model.nets.ema import make_ema, update_ema
from model.nets.losses import (
    d_loss_fn,
    g_loss_fn,
    gradient_penalty,
    lecam,
    reconstruction,
    update_lecam_averages,
)
from model.train import distributed as ddp
from model.train.cond import sample_labels
from model.train.options import TrainConfig


@dataclass
class Models:
    G: nn.Module
    D: nn.Module
    ema: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer  # D's parameters and the reconstructors'
    recon: nn.Module | None = None  # FastGAN's self-supervised decoders; trained, not shipped
    # LeCam's moving averages of D's mean [real, fake] outputs; NaN until the first step.
    lecam_avg: torch.Tensor = field(default_factory=lambda: torch.full((2,), math.nan))


def build_models(cfg: TrainConfig, device: torch.device, d: ddp.Dist = ddp.SINGLE,
                 channels_last: bool = True) -> Models:
    """G, D, the EMA copy and their optimisers, identical on every rank.

    channels_last (NHWC) weights make every convolution's activations NHWC too, which oneDNN
    and cuDNN run without layout reorders (the figures: README, `python -m model.bench
    --levers`). It changes no maths beyond rounding; checkpoints and exports are layout-free.
    """
    torch.manual_seed(cfg.seed)  # identical init on every rank
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    G = build_generator(cfg.gan).to(device, memory_format=fmt)
    D = build_discriminator(cfg.gan).to(device, memory_format=fmt)
    recon = build_reconstructors(cfg.gan)
    d_params = list(D.parameters())
    for module in (G, D, recon):
        if module is not None:
            ddp.broadcast_module(module, d)
    if recon is not None:
        recon = recon.to(device, memory_format=fmt)
        d_params += list(recon.parameters())
    ema = make_ema(G) if cfg.ema_beta > 0 else None
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_d = torch.optim.Adam(d_params, lr=cfg.lr_d, betas=cfg.betas)
    return Models(G, D, ema, opt_g, opt_d, recon, torch.full((2,), math.nan, device=device))


@dataclass
class Batches:
    """Real batches from memory in a fixed per-epoch order; this rank takes its share."""

    images: torch.Tensor  # (N, C, S, S) uint8 on the training device
    batch: int  # the global batch, summed over ranks
    seed: int
    dist: ddp.Dist
    epoch: int = 0
    pos: int = 0  # global images consumed in this epoch
    _perm: torch.Tensor | None = None
    # (N, k) int64 class indices of the images for a class-conditional run (Dataset.labels)
    labels: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.labels is not None:  # indexed with the images' indices, on their device
            self.labels = self.labels.to(self.images.device)

    def next(self) -> tuple[torch.Tensor, bool]:
        """(this rank's (B/world, C, S, S) batch in [-1, 1], whether an epoch just ended)."""
        real, _, ended = self.next_labelled()
        return real, ended

    def next_labelled(self) -> tuple[torch.Tensor, torch.Tensor | None, bool]:
        """next() and the batch's (B/world, k) labels (None when unconditional), drawn with
        the same indices; a flip keeps an image's label."""
        n = self.images.shape[0]
        ended = False
        if self.pos + self.batch > n:  # drop the incomplete tail of the epoch
            self.epoch, self.pos, self._perm = self.epoch + 1, 0, None
            ended = True
        if self._perm is None:
            self._perm = epoch_permutation(n, self.epoch, self.seed).to(self.images.device)
        idx = self._perm[self.pos:self.pos + self.batch][self.dist.rank::self.dist.world]
        self.pos += self.batch
        labels = None if self.labels is None else self.labels[idx]
        return random_flip(to_float(self.images[idx])), labels, ended

    def fake_labels(self, n: int) -> torch.Tensor | None:
        """(n, k) labels for n fakes: those of n real images drawn at random, so that fakes
        come in the data's class balance. None (and no random draw) when unconditional."""
        return None if self.labels is None else sample_labels(self.labels, n)


def _cls(classes: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """The classes argument of a conditional G or D call; none at all for an unconditional
    one (the DCGAN networks take no such argument)."""
    return () if classes is None else (classes,)


def _cat(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    return None if a is None or b is None else torch.cat([a, b])


def top_k_count(batch: int, epoch: int, cfg: TrainConfig) -> int:
    """How many of a batch's fakes count in G's loss at this epoch (top-k training)."""
    share = max(cfg.top_k, cfg.top_k_gamma ** epoch) if cfg.top_k < 1 else 1.0
    return max(1, min(batch, math.ceil(share * batch)))


def recon_loss(recon: nn.Module, feats: dict[int, torch.Tensor], real: torch.Tensor,
               b: int) -> torch.Tensor:
    """FastGAN's self-supervised term on the real half: the whole image rebuilt from D's 8x8
    map, and one random quarter (the same for the batch) from that quarter of the 16x16 map."""
    part = int(torch.randint(4, ()).item())
    whole, target_whole, quarter, target_part = recon(
        {8: feats[8][:b], 16: feats[16][:b]}, real, part)
    return reconstruction(whole, target_whole) + reconstruction(quarter, target_part)


def train_step(m: Models, cfg: TrainConfig, batches: Batches, step: int, device: torch.device,
               d: ddp.Dist = ddp.SINGLE, amp: bool = False) -> dict[str, float]:
    """n_critic D steps, then one G step. Returns the losses and D's mean outputs."""
    d_loss, g_loss = d_loss_fn(cfg.loss), g_loss_fn(cfg.loss)  # type: ignore[arg-type]
    def autocast() -> Any:
        return torch.autocast(device.type, dtype=torch.bfloat16) if amp else nullcontext()

    b = batches.batch // d.world
    stats: dict[str, float] = {"epoch_end": 0.0}

    m.D.requires_grad_(True)
    fake = None
    for _ in range(cfg.n_critic):
        # c_real, c_fake: (b, k) classes of a conditional run (model.train.cond), else None
        real, c_real, ended = batches.next_labelled()
        c_fake = batches.fake_labels(b)
        stats["epoch_end"] = max(stats["epoch_end"], float(ended))
        with autocast():
            fake = m.G(torch.randn(b, cfg.gan.z_dim, device=device), *_cls(c_fake))
            pair = diff_augment(torch.cat([real, fake.detach()]), cfg.augment)
            feats: dict[int, torch.Tensor] = {}
            if cfg.gan.d_norm == "batch":
                # BatchNorm must not mix real and fake statistics: two passes, as in DCGAN.
                if m.recon is not None:
                    real_out, feats = m.D.features(pair[:b], *_cls(c_real))
                    logits = torch.cat([real_out, m.D(pair[b:], *_cls(c_fake))])
                else:
                    logits = torch.cat([m.D(pair[:b]), m.D(pair[b:])])
            elif m.recon is not None:
                # one pass; the decoders read its maps
                logits, feats = m.D.features(pair, *_cls(_cat(c_real, c_fake)))
            else:
                logits = m.D(pair)  # one pass over both halves is cheaper
            real_logits, fake_logits = logits[:b].float(), logits[b:].float()
            loss_d = d_loss(real_logits, fake_logits)
            if m.recon is not None:
                loss_d = loss_d + cfg.recon * recon_loss(m.recon, feats, pair[:b], b)
            if cfg.lecam > 0:
                m.lecam_avg = update_lecam_averages(m.lecam_avg, real_logits, fake_logits,
                                                    cfg.lecam_decay)
                loss_d = loss_d + cfg.lecam * lecam(real_logits, fake_logits, *m.lecam_avg)
        if cfg.gp_weight > 0:
            loss_d = loss_d + cfg.gp_weight * gradient_penalty(m.D, pair[:b].float(),
                                                               pair[b:].float())
        m.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        ddp.average_gradients(m.D, d)
        if m.recon is not None:
            ddp.average_gradients(m.recon, d)
        m.opt_d.step()

    m.D.requires_grad_(False)  # the G step needs gradients through D, not for it
    with autocast():
        if cfg.n_critic > 1:
            c_fake = batches.fake_labels(b)
            fake = m.G(torch.randn(b, cfg.gan.z_dim, device=device), *_cls(c_fake))
        # n_critic == 1 reuses the D step's fakes: one G forward per step instead of two.
        gen_logits = m.D(diff_augment(fake, cfg.augment), *_cls(c_fake)).float()  # (b,)
        keep = top_k_count(b, batches.epoch, cfg)
        if keep < b:  # the worst fakes' gradients would drag G towards what D rejects
            gen_logits = gen_logits.topk(keep).values
        loss_g = g_loss(gen_logits)
    m.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    ddp.average_gradients(m.G, d)
    m.opt_g.step()
    ddp.average_batchnorm_stats(m.G, d)
    if m.ema is not None:
        update_ema(m.ema, m.G, cfg.ema_beta, step)
    stats.update(loss_d=loss_d.item(), loss_g=loss_g.item(),
                 d_real=real_logits.mean().item(), d_fake=fake_logits.mean().item())
    return stats
