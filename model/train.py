"""Train a GAN on a folder of images or the built-in emoji people.

    python -m model.train --data emoji-people --out runs/emoji            # the default setup
    python -m model.train --data ~/pictures --out runs/mine --kimg 500
    python -m model.train --data emoji-people --out runs/emoji --resume   # continue exactly
    python -m model.train --data emoji-people --out runs/smoke --dry-run  # every output, seconds
    python -m model.train --data emoji-people --out runs/emoji --force    # start over there
    torchrun --nproc_per_node 4 -m model.train --data DIR --out runs/big  # data parallel

A run folder holds options.json, log.jsonl (one line per step), grids/ (fixed-noise samples at
each epoch), grid_final.png, losses.png, ckpt.pt (resume) and the export the bot loads:
generator.safetensors + generator.json. A folder that already holds a checkpoint or an export
is refused unless --resume (continue it) or --force (start over, overwriting it) is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from model import __version__
from model import distributed as ddp
from model.augment import diff_augment, parse_policy
from model.checkpoint import (
    CKPT_FILE,
    WEIGHTS_FILE,
    atomic_write_text,
    load_training_state,
    read_card,
    save_discriminator,
    save_generator,
    save_training_state,
)
from model.data import (
    Dataset,
    epoch_permutation,
    image_groups,
    load_dataset,
    random_flip,
    to_float,
)
from model.device import cpu_has_native_bf16, machine_description, pick_device
from model.ema import make_ema, reestimate_batchnorm, update_ema
from model.errors import UserError, run_cli
from model.evaluate import evaluate
from model.losses import d_loss_fn, g_loss_fn, gradient_penalty
from model.networks import Discriminator, GANConfig, Generator
from model.sampler import Sampler, make_grid, to_uint8

log = logging.getLogger("model.train")

PRESETS = ("default", "classic-dcgan")
LOSSES = ("dcgan", "hinge", "wgan-gp")


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
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["augment"], d["betas"] = list(self.augment), list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        d["gan"] = GANConfig.from_dict(d["gan"])
        d["augment"], d["betas"] = tuple(d["augment"]), tuple(d["betas"])
        return cls(**d)


@dataclass(frozen=True)
class RunLimits:
    """How long to train and how often to write; may change between resumes."""

    kimg: float | None = 200.0  # thousands of real images shown to D
    minutes: float | None = None  # wall-clock budget for this invocation
    ckpt_minutes: float = 5.0
    eval_n: int = 1000  # samples for the final SWD
    dry_run: bool = False


def preset_config(preset: str, data: str, loss: str | None = None) -> TrainConfig:
    """The preset's settings; a loss other than the preset's brings that loss's own recipe."""
    if preset == "classic-dcgan":
        # pytorch/examples/dcgan: nz 100, ngf = ndf = 64, BatchNorm in both, BCE, no tricks.
        cfg = TrainConfig(data, preset, GANConfig(z_dim=100, d_norm="batch", spectral_norm=False),
                          augment=(), ema_beta=0.0)
    elif preset == "default":
        # Measured best on small data: a spectral-norm D without BatchNorm, DiffAugment, EMA.
        cfg = TrainConfig(data, preset)
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


# ---------------------------------------------------------------- models and one step


@dataclass
class Models:
    G: Generator
    D: Discriminator
    ema: Generator | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer


def build_models(cfg: TrainConfig, device: torch.device, d: ddp.Dist = ddp.SINGLE,
                 channels_last: bool = True) -> Models:
    """G, D, the EMA copy and their optimisers, identical on every rank.

    channels_last (NHWC) weights make every convolution's activations NHWC too, which oneDNN
    and cuDNN run without layout reorders: +13 % (classic-dcgan) and +8 % (default) images/s
    on a 2-core AVX2 CPU (`python -m model.bench --levers`). It changes no maths beyond
    rounding; checkpoints and exports are layout-free.
    """
    torch.manual_seed(cfg.seed)  # identical init on every rank
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    G = Generator(cfg.gan).to(device, memory_format=fmt)
    D = Discriminator(cfg.gan).to(device, memory_format=fmt)
    ddp.broadcast_module(G, d)
    ddp.broadcast_module(D, d)
    ema = make_ema(G) if cfg.ema_beta > 0 else None
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    return Models(G, D, ema, opt_g, opt_d)


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

    def next(self) -> tuple[torch.Tensor, bool]:
        """(this rank's (B/world, C, S, S) batch in [-1, 1], whether an epoch just ended)."""
        n = self.images.shape[0]
        ended = False
        if self.pos + self.batch > n:  # drop the incomplete tail of the epoch
            self.epoch, self.pos, self._perm = self.epoch + 1, 0, None
            ended = True
        if self._perm is None:
            self._perm = epoch_permutation(n, self.epoch, self.seed).to(self.images.device)
        idx = self._perm[self.pos:self.pos + self.batch][self.dist.rank::self.dist.world]
        self.pos += self.batch
        return random_flip(to_float(self.images[idx])), ended


def top_k_count(batch: int, epoch: int, cfg: TrainConfig) -> int:
    """How many of a batch's fakes count in G's loss at this epoch (top-k training)."""
    share = max(cfg.top_k, cfg.top_k_gamma ** epoch) if cfg.top_k < 1 else 1.0
    return max(1, min(batch, math.ceil(share * batch)))


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
        real, ended = batches.next()
        stats["epoch_end"] = max(stats["epoch_end"], float(ended))
        with autocast():
            fake = m.G(torch.randn(b, cfg.gan.z_dim, device=device))
            pair = diff_augment(torch.cat([real, fake.detach()]), cfg.augment)
            if cfg.gan.d_norm == "batch":
                # BatchNorm must not mix real and fake statistics: two passes, as in DCGAN.
                logits = torch.cat([m.D(pair[:b]), m.D(pair[b:])])
            else:
                logits = m.D(pair)  # one pass over both halves is cheaper
            real_logits, fake_logits = logits[:b].float(), logits[b:].float()
            loss_d = d_loss(real_logits, fake_logits)
        if cfg.gp_weight > 0:
            loss_d = loss_d + cfg.gp_weight * gradient_penalty(m.D, pair[:b].float(),
                                                               pair[b:].float())
        m.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        ddp.average_gradients(m.D, d)
        m.opt_d.step()

    m.D.requires_grad_(False)  # the G step needs gradients through D, not for it
    with autocast():
        if cfg.n_critic > 1:
            fake = m.G(torch.randn(b, cfg.gan.z_dim, device=device))
        # n_critic == 1 reuses the D step's fakes: one G forward per step instead of two.
        gen_logits = m.D(diff_augment(fake, cfg.augment)).float()  # (b,)
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


# ---------------------------------------------------------------- outputs


def save_grid(path: Path, images: torch.Tensor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(make_grid(images)).save(path)


@torch.no_grad()
def draw(generator: torch.nn.Module, z: torch.Tensor, device: torch.device) -> torch.Tensor:
    was_training = generator.training
    generator.eval()
    out = to_uint8(generator(z.to(device)))
    generator.train(was_training)
    return out


def plot_losses(log_path: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    if not rows:
        return
    kimg = np.array([r["kimg"] for r in rows])
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    window = max(1, len(rows) // 100)
    for key in ("loss_d", "loss_g"):
        y = np.array([r[key] for r in rows])
        smooth = np.convolve(y, np.ones(window) / window, mode="valid")
        ax.plot(kimg[window - 1:], smooth, label=key)
    ax.set_xlabel("thousands of real images seen")
    ax.set_ylabel(f"loss (mean of {window} steps)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def score(generator: torch.nn.Module, data: Dataset, n: int, device: torch.device,
          seed: int) -> dict[str, Any]:
    """n eval-mode samples against the data (model.evaluate.evaluate): SWD, the k-NN metrics
    and the held-out memorisation test, split by base emoji when the file names are known."""
    was_training = generator.training
    generator.eval()
    try:
        result = evaluate(Sampler(generator, {}, device), data.images.cpu(), n, seed,
                          groups=image_groups(data))
    finally:
        generator.train(was_training)
    keys = ("swd", "memorisation_share", "memorisation", "precision", "recall", "density",
            "coverage")
    return {key: result[key] for key in keys}


# ---------------------------------------------------------------- the loop


@dataclass
class Progress:
    step: int = 0
    images_seen: int = 0
    train_seconds: float = 0.0  # inside training steps
    wall_seconds: float = 0.0  # the whole loop, grids and checkpoints included
    last: dict[str, float] = field(default_factory=dict)


class Interrupt:
    """Ctrl-C (or SIGTERM) asks the loop to stop after the current step and checkpoint."""

    def __init__(self) -> None:
        self.asked = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Interrupt:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.asked:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.asked = True
        print("\nstopping after this step; writing a checkpoint (Ctrl-C again to abort)",
              file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def training_state(m: Models, cfg: TrainConfig, p: Progress, batches: Batches,
                   rng_states: list[object]) -> dict[str, Any]:
    return {
        "format": 1,
        "config": cfg.to_dict(),
        "G": m.G.state_dict(), "D": m.D.state_dict(),
        "ema": m.ema.state_dict() if m.ema is not None else None,
        "opt_g": m.opt_g.state_dict(), "opt_d": m.opt_d.state_dict(),
        "step": p.step, "images_seen": p.images_seen, "train_seconds": p.train_seconds,
        "wall_seconds": p.wall_seconds, "epoch": batches.epoch, "epoch_pos": batches.pos,
        "rng": rng_states,  # one per rank
        "last": p.last,
    }


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def config_differences(saved: dict[str, Any], now: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(saved) | set(now)):
        a, b = saved.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} in the checkpoint, {b!r} now")
    return out


def refuse_finished_work(out: Path) -> None:
    """A new run in a folder with a checkpoint or an export would overwrite it: a UserError
    naming the file and the flag, before anything is read or written."""
    if (out / CKPT_FILE).is_file():
        raise UserError(f"{out} already holds a run ({out / CKPT_FILE}); add --resume to "
                        "continue it, or --force to start over and overwrite it, or choose "
                        "another --out")
    if (out / WEIGHTS_FILE).is_file():
        raise UserError(f"{out} already holds exported weights ({out / WEIGHTS_FILE}); add "
                        "--force to overwrite them, or choose another --out")


def train(cfg: TrainConfig, out: Path, limits: RunLimits, *, resume: bool = False,
          force: bool = False, device: torch.device | None = None, amp: bool = False,
          channels_last: bool = True, cache_dir: Path | None = None,
          show_progress: bool = True) -> dict[str, Any] | None:
    """Run (or continue) training into `out`; returns the exported card on rank 0.

    A new run (not resume) into a folder holding ckpt.pt or generator.safetensors is refused
    unless force: a dry run once replaced the shipped generator with noise.
    """
    if not resume and not force:
        refuse_finished_work(out)  # every rank sees the same folder: all refuse together
    device = device or pick_device("auto")
    d = ddp.from_env(device.type)
    if d.enabled and device.type == "cuda":
        device = torch.device("cuda", d.local_rank)
    if cfg.batch % d.world:
        raise UserError(f"--batch {cfg.batch} must be a multiple of the {d.world} ranks")
    try:
        card = _train(cfg, out, limits, resume, device, amp, channels_last, cache_dir,
                      show_progress, d)
    except KeyboardInterrupt:  # every rank agreed to stop (ddp.any_rank): leave together
        ddp.shutdown(d, together=True)
        raise
    except BaseException:  # this rank alone may have failed: never wait for the others
        ddp.shutdown(d, together=False)
        raise
    ddp.shutdown(d, together=True)
    return card


def _train(cfg: TrainConfig, out: Path, limits: RunLimits, resume: bool, device: torch.device,
           amp: bool, channels_last: bool, cache_dir: Path | None, show_progress: bool,
           d: ddp.Dist) -> dict[str, Any] | None:
    from tqdm import tqdm

    data = load_dataset(cfg.data, cfg.gan.image_size, cache_dir, min_images=cfg.batch)
    if limits.dry_run:
        data = Dataset(data.images[:max(cfg.batch * 2, 16)], data.data_hash, data.source)
    ckpt_path = out / CKPT_FILE
    state = load_training_state(ckpt_path) if resume else None
    if state is not None:
        # A checkpoint from before a setting existed ran with that setting's default.
        diffs = config_differences(TrainConfig.from_dict(state["config"]).to_dict(),
                                   cfg.to_dict())
        if diffs:
            raise UserError(f"{ckpt_path} was trained with other settings ({'; '.join(diffs)});"
                            " resume with the same flags or start a new run with another --out")
        if state.get("data_hash") not in (None, data.data_hash):
            raise UserError(f"the training data changed since {ckpt_path} was written; resume "
                            "with the same images or start a new run with another --out")

    m = build_models(cfg, device, d, channels_last)
    p = Progress()
    batches = Batches(data.images.to(device), cfg.batch, cfg.seed, d)
    if state is not None:
        m.G.load_state_dict(state["G"])
        m.D.load_state_dict(state["D"])
        if m.ema is not None:
            m.ema.load_state_dict(state["ema"])
        m.opt_g.load_state_dict(state["opt_g"])
        m.opt_d.load_state_dict(state["opt_d"])
        p = Progress(state["step"], state["images_seen"], state["train_seconds"],
                     state.get("wall_seconds", state["train_seconds"]), state["last"])
        batches.epoch, batches.pos = state["epoch"], state["epoch_pos"]
        rngs = state["rng"]
        if len(rngs) == d.world:
            set_rng_state(rngs[d.rank], device)
        else:  # another number of ranks: a fresh, still deterministic stream per rank
            torch.manual_seed(cfg.seed * 7919 + p.step * 131 + d.rank)
    else:
        torch.manual_seed(cfg.seed * 7919 + d.rank)  # per-rank noise and augmentation

    fixed_z = torch.randn(64, cfg.gan.z_dim, generator=torch.Generator().manual_seed(cfg.seed))
    max_images = math.inf if limits.kimg is None else round(limits.kimg * 1000)
    deadline = math.inf if limits.minutes is None else time.monotonic() + limits.minutes * 60
    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if state is None:  # a new run (--force over an old one): not the old run's log lines
            (out / "log.jsonl").unlink(missing_ok=True)
        atomic_write_text(out / "options.json", json.dumps(
            {"config": cfg.to_dict(), "limits": asdict(limits), "resume": resume, "amp": amp,
             "channels_last": channels_last, "device": str(device), "world": d.world,
             "data_hash": data.data_hash,
             "images": len(data), "version": __version__}, indent=2) + "\n")
        log.info("training %s on %d images (%s) on %s, world %d; G %.2fM params, D %.2fM",
                 cfg.preset, len(data), data.source, device, d.world,
                 sum(t.numel() for t in m.G.parameters()) / 1e6,
                 sum(t.numel() for t in m.D.parameters()) / 1e6)

    def checkpoint() -> None:
        rngs = ddp.gather_objects(rng_state(device), d)
        if d.is_main:
            st = training_state(m, cfg, p, batches, rngs)
            st["data_hash"] = data.data_hash
            save_training_state(ckpt_path, st)

    bar = tqdm(total=None if max_images == math.inf else max_images / 1000, initial=
               p.images_seen / 1000, unit="kimg", disable=not (d.is_main and show_progress),
               dynamic_ncols=True, bar_format="{l_bar}{bar}| {n:.2f}/{total_fmt} kimg "
               "[{elapsed}<{remaining}{postfix}]")
    log_file = (out / "log.jsonl").open("a") if d.is_main else None
    last_ckpt = loop_start = time.monotonic()
    wall_before = p.wall_seconds
    interrupted = False
    try:
        with Interrupt() as interrupt:
            while p.images_seen < max_images:
                t0 = time.perf_counter()
                stats = train_step(m, cfg, batches, p.step, device, d, amp)
                dt = time.perf_counter() - t0
                p.step += 1
                p.images_seen += cfg.batch * cfg.n_critic
                p.train_seconds += dt
                p.wall_seconds = wall_before + time.monotonic() - loop_start
                rate = cfg.batch * cfg.n_critic / dt
                p.last = {k: stats[k] for k in ("loss_d", "loss_g", "d_real", "d_fake")}
                if log_file is not None:
                    log_file.write(json.dumps({"step": p.step, "kimg": p.images_seen / 1000,
                                               "epoch": batches.epoch, **p.last,
                                               "img_s": round(rate, 1),
                                               "t": round(p.train_seconds, 2)}) + "\n")
                    bar.update(cfg.batch * cfg.n_critic / 1000)
                    bar.set_postfix_str(f"{rate:.0f} img/s, D {p.last['loss_d']:.3f}, "
                                        f"G {p.last['loss_g']:.3f}, ep {batches.epoch}")
                    if stats["epoch_end"]:
                        save_grid(out / "grids" / f"epoch_{batches.epoch:04d}.png",
                                  draw(m.G, fixed_z, device))
                now = time.monotonic()
                asked, out_of_time, ckpt_due = ddp.any_rank(
                    (interrupt.asked, now >= deadline,
                     now - last_ckpt > limits.ckpt_minutes * 60), d, device)
                if asked:
                    interrupted = True
                    break
                if out_of_time:
                    break
                if ckpt_due:
                    checkpoint()
                    last_ckpt = time.monotonic()
    finally:
        bar.close()
        if log_file is not None:
            log_file.close()

    ddp.check_consistency(m.G, d, "G")
    ddp.check_consistency(m.D, d, "D")
    checkpoint()
    if interrupted:
        if d.is_main:
            print(f"interrupted at {p.images_seen / 1000:.1f} kimg; checkpoint written to "
                  f"{ckpt_path}; continue with the same command plus --resume", file=sys.stderr)
        raise KeyboardInterrupt
    if not d.is_main:
        return None
    return export(m, cfg, p, data, out, device, limits)


def export(m: Models, cfg: TrainConfig, p: Progress, data: Dataset, out: Path,
           device: torch.device, limits: RunLimits) -> dict[str, Any]:
    """Score G and the EMA copy (its BatchNorm statistics re-estimated); ship the better."""
    n = min(limits.eval_n, 64) if limits.dry_run else limits.eval_n
    candidates: dict[str, torch.nn.Module] = {"generator": m.G}
    if m.ema is not None:
        # 32 batches of 64 for a real run; fewer when the evaluation itself is tiny
        reestimate_batchnorm(m.ema, cfg.gan.z_dim, device, batches=max(4, min(32, n // 32)),
                             seed=cfg.seed)
        candidates["ema"] = m.ema
    scores = {name: score(g, data, n, device, cfg.seed + 1) for name, g in candidates.items()}
    best = min(scores, key=lambda k: scores[k]["swd"]["mean"])
    fixed_z = torch.randn(64, cfg.gan.z_dim, generator=torch.Generator().manual_seed(cfg.seed))
    for name, g in candidates.items():
        save_grid(out / f"grid_final_{name}.png", draw(g, fixed_z, device))
    save_grid(out / "grid_final.png", draw(candidates[best], fixed_z, device))
    plot_losses(out / "log.jsonl", out / "losses.png")
    card = {
        "exported": best,
        "preset": cfg.preset,
        "loss": cfg.loss,
        "training": cfg.to_dict(),
        "data": {"source": data.source, "images": len(data), "hash": data.data_hash},
        "images_seen": p.images_seen,
        "steps": p.step,
        "train_seconds": round(p.train_seconds, 1),
        "wall_seconds": round(p.wall_seconds, 1),
        "machine": machine_description(device),
        "last_losses": p.last,
        "swd": scores[best]["swd"],
        "memorisation_share": scores[best]["memorisation_share"],
        "scores": scores,
        "eval_samples": n,
        # four steps on a handful of images: the bot refuses to serve it (unservable_reason)
        "dry_run": limits.dry_run,
        "version": __version__,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    save_generator(out, candidates[best], cfg.gan, card)
    d = m.D.module if hasattr(m.D, "module") else m.D  # DDP wraps it
    save_discriminator(out, d, cfg.gan, {
        "images_seen": p.images_seen, "steps": p.step,
        "use": "best-of-k guard: ranks candidate pictures, never thresholds"})
    return read_card(out)


# ---------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m model.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a folder of images, or emoji-people")
    ap.add_argument("--out", required=True, type=Path, help="the run folder")
    ap.add_argument("--preset", choices=PRESETS, default=None, help="default: default")
    ap.add_argument("--loss", choices=LOSSES, default=None, help="default: the preset's")
    ap.add_argument("--z-dim", type=int, default=None)
    ap.add_argument("--image-size", type=int, choices=(32, 64, 128), default=None)
    ap.add_argument("--width", type=int, default=None, help="ngf = ndf (default 64)")
    ap.add_argument("--augment", default=None, help="DiffAugment ops, e.g. color,translation,"
                    "cutout, or none")
    ap.add_argument("--ema", type=float, default=None, help="EMA beta; 0 turns it off")
    ap.add_argument("--batch", type=int, default=None, help="global batch (default 64)")
    ap.add_argument("--lr", type=float, default=None, help="learning rate of both G and D")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--top-k", type=float, default=None,
                    help="top-k training: the smallest share of fakes G learns from, reached "
                         "by 0.99 per epoch (e.g. 0.5; default 1: off)")
    ap.add_argument("--kimg", type=float, default=None,
                    help="stop after this many thousand real images (default 200)")
    ap.add_argument("--minutes", type=float, default=None, help="stop after this wall time")
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    ap.add_argument("--resume", action="store_true", help="continue the run in --out")
    ap.add_argument("--force", action="store_true",
                    help="start a new run in --out even if it holds a checkpoint or exported "
                    "weights, overwriting them")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--amp", choices=("none", "bf16"), default="none",
                    help="bf16 autocast (CUDA; CPUs with AVX512-BF16 or AMX)")
    ap.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                    help="NHWC memory format (default on: faster on CPU and GPU)")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--dry-run", action="store_true",
                    help="a few steps on a handful of images, every output written")
    return ap.parse_args(argv)


def config_from_args(args: argparse.Namespace, saved: dict[str, Any] | None) -> TrainConfig:
    """Flags over the preset's values; when resuming, flags over the checkpoint's values."""
    if saved is not None and args.preset is None and args.loss is None:
        base = TrainConfig.from_dict(saved)
    else:
        base = preset_config(args.preset or "default", args.data, args.loss)
    gan = base.gan
    if args.z_dim is not None:
        gan = replace(gan, z_dim=args.z_dim)
    if args.image_size is not None:
        gan = replace(gan, image_size=args.image_size)
    if args.width is not None:
        gan = replace(gan, g_width=args.width, d_width=args.width)
    cfg = replace(base, data=args.data, gan=gan)
    if args.augment is not None:
        cfg = replace(cfg, augment=parse_policy(args.augment))
    if args.ema is not None:
        cfg = replace(cfg, ema_beta=args.ema)
    if args.batch is not None:
        cfg = replace(cfg, batch=args.batch)
    if args.lr is not None:
        cfg = replace(cfg, lr_g=args.lr, lr_d=args.lr)
    if args.seed is not None:
        cfg = replace(cfg, seed=args.seed)
    if args.top_k is not None:
        if not 0 < args.top_k <= 1:
            raise UserError(f"--top-k must be a share in (0, 1], got {args.top_k}")
        cfg = replace(cfg, top_k=args.top_k)
    if args.dry_run:
        cfg = replace(cfg, batch=min(cfg.batch, 8))
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.resume and args.force:
        raise UserError("--resume continues the run in --out and --force starts it over; "
                        "give one of them")
    if not args.resume and not args.force:
        refuse_finished_work(args.out)
    for name in ("batch", "kimg", "minutes", "z_dim", "width"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be positive, got {value}")
    try:
        saved = load_training_state(args.out / CKPT_FILE)["config"] if args.resume else None
        cfg = config_from_args(args, saved)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    device = pick_device(args.device)
    if args.amp == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        raise UserError("--amp bf16: this CPU has no native bf16 (AVX512-BF16 or AMX) and "
                        "would run bf16 about 100x slower than fp32; leave --amp at none")
    if args.dry_run:
        kimg: float | None = cfg.batch * 4 / 1000  # four steps
    elif args.kimg is None and args.minutes is not None:
        kimg = None  # the wall-clock budget alone decides
    else:
        kimg = args.kimg or 200.0
    limits = RunLimits(kimg=kimg, minutes=args.minutes, ckpt_minutes=args.ckpt_minutes,
                       dry_run=args.dry_run)
    try:
        card = train(cfg, args.out, limits, resume=args.resume, force=args.force, device=device,
                     amp=args.amp == "bf16", channels_last=args.channels_last,
                     cache_dir=args.cache_dir)
    except KeyboardInterrupt:
        return 130
    if card is not None:
        swd = card["swd"]["mean"]
        print(f"exported {card['exported']} to {args.out}/generator.safetensors: "
              f"SWD {swd:.1f} x1e-3, memorisation {card['memorisation_share']:.1%}, "
              f"{card['images_seen'] / 1000:.1f} kimg in {card['train_seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    run_cli(main)
