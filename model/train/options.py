"""A training run's options as typed objects: what it computes, for how long, where and how.

TrainConfig decides the maths and must match on resume (it is saved in options.json and
ckpt.pt); RunLimits and the rest of Run may change between invocations of one run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from model.errors import UserError
from model.nets.config import GANConfig

PRESETS = ("default", "classic-dcgan", "fastgan")
LOSSES = ("dcgan", "hinge", "wgan-gp")
FASTGAN_WIDTH = 16


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a run computes. Saved as options.json and in ckpt.pt."""

    data: str
    preset: str = "default"
    gan: GANConfig = field(default_factory=GANConfig)
    loss: str = "dcgan"
    augment: tuple[str, ...] = ("color", "translation", "cutout")
    ema_beta: float = 0.999  # 0 turns the EMA generator off
    batch: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1  # D steps per G step
    gp_weight: float = 0.0  # WGAN-GP's lambda
    # Top-k training (Sinha et al., NeurIPS 2020): G learns only from the fakes D ranks most
    # real; the share kept decays by top_k_gamma per epoch from all of them down to top_k.
    top_k: float = 1.0  # 1: off (every fake counts)
    top_k_gamma: float = 0.99
    # LeCam regularisation (Tseng et al., CVPR 2021): its weight in D's loss (0: off) and the
    # decay of the moving averages of D's outputs it pulls towards.
    lecam: float = 0.0
    lecam_decay: float = 0.99
    recon: float = 1.0  # weight of FastGAN's reconstruction term (arch fastgan only)
    # Train without the held-out groups of model.data.split.heldout_mask (this share of base emoji,
    # all their skin tones): the memorisation test then compares like with like. 0: all data.
    held_out: float = 0.0
    seed: int = 0
    # The transitional ramp of class conditioning (gan.cond; model.train.cond), in kimg: lambda
    # goes 0 -> 1 linearly from the first to the second. Shahbazi et al. ran 2,000 -> 4,000
    # kimg (of ~25,000) on 2,000 images: unconditional for the first ~8% of training, while
    # the shapes all classes share are learnt, then a ramp as long again. Our runs are ~100x
    # shorter (200 kimg by default, ~700 in two hours on a CPU): 20 kimg (~20 epochs of the
    # 997 emoji, 10% of a default run) unconditional, then a ramp ending halfway through a
    # default run, so that its second half, and most of a longer one, trains and exports
    # fully conditional. The ramp is longer than the paper's: a slow one is the safe side of
    # the collapse it guards against, and a default run still has time for both.
    cond_ramp: tuple[float, float] = (20.0, 100.0)
    # The run folder whose weights this run started from (--init-from; model.train.warm_start),
    # "" for networks initialised from the seed.
    init_from: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["augment"], d["betas"] = list(self.augment), list(self.betas)
        d["gan"], d["cond_ramp"] = self.gan.to_dict(), list(self.cond_ramp)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        d["gan"] = GANConfig.from_dict(d["gan"])
        d["augment"], d["betas"] = tuple(d["augment"]), tuple(d["betas"])
        if "cond_ramp" in d:  # a checkpoint from before conditioning ran with the default
            d["cond_ramp"] = tuple(d["cond_ramp"])
        return cls(**d)


@dataclass(frozen=True)
class RunLimits:
    """How long to train and how often to write; may change between resumes."""

    kimg: float | None = 200.0  # thousands of real images shown to D
    minutes: float | None = None  # wall-clock budget for this invocation
    ckpt_minutes: float = 5.0
    eval_n: int = 1000  # samples for the final SWD
    dry_run: bool = False


@dataclass(frozen=True)
class Run:
    """One invocation of the trainer: the config, the limits, and where and how to run."""

    cfg: TrainConfig
    out: Path  # the run folder
    limits: RunLimits
    device: torch.device  # this rank's device
    resume: bool = False
    amp: bool = False  # bf16 autocast (flags: --amp auto decides it from the hardware)
    channels_last: bool = True
    cache_dir: Path | None = None
    show_progress: bool = True


def channels_last_default(gan: GANConfig) -> bool:
    """NHWC for the DCGAN family (oneDNN and cuDNN run its convolutions without reorders);
    NCHW for fastgan, whose many BatchNorm layers run their backward 3-4x slower in NHWC on
    CPU (measured: 65 against 44 images/s at width 16, 2 EPYC threads, bf16)."""
    return gan.arch != "fastgan"


def preset_config(preset: str, data: str, loss: str | None = None) -> TrainConfig:
    """The preset's settings; a loss other than the preset's brings that loss's own recipe."""
    if preset == "classic-dcgan":
        # pytorch/examples/dcgan: nz 100, ngf = ndf = 64, BatchNorm in both, BCE, no tricks.
        cfg = TrainConfig(data, preset, GANConfig(z_dim=100, d_norm="batch", spectral_norm=False),
                          augment=(), ema_beta=0.0)
    elif preset == "default":
        # Measured best on small data: a spectral-norm D without BatchNorm, DiffAugment, EMA.
        cfg = TrainConfig(data, preset)
    elif preset == "fastgan":
        # model.nets.fastgan as measured best at 60 minutes (README, "Pictures 2"): width 16 (as
        # fast as the default preset on a CPU), the paper's BatchNorm D, minibatch std,
        # LeCam 0.1, with the default's DiffAugment and EMA.
        cfg = TrainConfig(data, preset, GANConfig(arch="fastgan", g_width=FASTGAN_WIDTH,
                                                  d_width=FASTGAN_WIDTH, d_norm="batch",
                                                  mbstd_group=4), lecam=0.1)
    else:
        raise UserError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if loss == "wgan-gp":
        # Gulrajani et al.: n_critic 5, lambda 10, Adam 1e-4 (0, 0.9); the per-sample penalty
        # breaks with BatchNorm in the critic, so it gets LayerNorm there.
        # The penalty is the critic's Lipschitz control, so spectral norm is off too.
        gan = replace(cfg.gan, spectral_norm=False,
                      d_norm="layer" if cfg.gan.d_norm == "batch" else cfg.gan.d_norm)
        cfg = replace(cfg, loss=loss, gan=gan, n_critic=5, gp_weight=10.0,
                      lr_g=1e-4, lr_d=1e-4, betas=(0.0, 0.9))
    elif loss is not None:
        cfg = replace(cfg, loss=loss)
    return cfg
