"""A FastGAN-style generator and discriminator for a thousand images (Liu et al., ICLR 2021).

What is taken from "Towards Faster and Stabilized GAN Training for High-fidelity Few-shot Image
Synthesis", sized for two CPU threads:
- G: nearest-neighbour upsampling + 3x3 convolution (no transposed convolution, no
  checkerboards), gated linear units, per-pixel noise injection, and skip-layer excitation
  (SLE): the 4x4 and 8x8 features gate the channels of the two largest feature maps, so the
  coarse layout (pose, hat, palette) steers the fine layers directly.
- D: residual down blocks (a strided 4x4 convolution beside an average pool + 1x1), spectral
  norm, and a self-supervised task: small decoders rebuild the whole real image from D's 8x8
  features and one random quarter of it from a quarter of the 16x16 features. D must keep
  features that describe the image, not just what separates it from fakes, which is what
  keeps it from overfitting a thousand pictures. The decoders (``Reconstructors``) are a
  separate module: they train with D and are checkpointed, never shipped.

The noise injection draws fresh noise in training; in eval mode it uses a fixed noise map
stored with the weights (StyleGAN's "const" noise), so a reply stays a pure function of its
latent and the bot can reproduce any picture.

With ``GANConfig.cond`` (an experiment, model.train.cond) both are class-conditional: G adds
cond_lambda x (one learned embedding per label set, summed) to z; D adds cond_lambda x
<embedding of the class, D's pooled last features> to its logit (a projection discriminator).
Without it they are exactly the unconditional networks: the same weights, names and draws.

Shapes are for 64x64 (stages 4 -> 8 -> 16 -> 32 -> 64); 32 and 128 px add or drop a stage.
"""

from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from model.nets.config import GANConfig, Norm
from model.nets.layers import MinibatchStd, init_weights, norm2d


def g_widths(config: GANConfig) -> dict[int, int]:
    """Channels of G's feature map at each resolution: 8w at 4 and 8, halving to w at 64
    (w = g_width; 24 -> 192, 192, 96, 48, 24 at 64 px). Never fewer than 8."""
    widths = {4: 8 * config.g_width}
    res, width = 8, 8 * config.g_width
    while res <= config.image_size:
        widths[res] = max(8, width)
        res, width = res * 2, width // 2
    return widths


def sle_pairs(image_size: int) -> list[tuple[int, int]]:
    """(source, target) resolutions of the skip-layer excitations: each of the two largest
    maps is gated by the map 8x smaller (32 <- 4 and 64 <- 8 at 64 px)."""
    return [(t // 8, t) for t in (image_size // 2, image_size) if t // 8 >= 4]


class NoiseInjection(nn.Module):
    """x + weight * noise: fresh N(0, 1) per pixel in training, a fixed map in eval mode.
    The weight starts at 0, so G learns how much noise each layer wants."""

    def __init__(self, resolution: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.register_buffer("const", torch.randn(1, 1, resolution, resolution))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        if self.training:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device,
                                dtype=x.dtype)
        else:
            noise = self.const.to(x.dtype)
        return x + self.weight.to(x.dtype) * noise


class GLU(nn.Module):
    """nn.GLU(dim=1): the first half of the channels gated by the sigmoid of the second.

    On a channels-last tensor (how the bot serves, README) torch's glu walks the channel
    halves with a strided slow path, 3-4x slower than this: the gate copied dense, then one
    vectorised sigmoid and product (1 ulp off glu at most). Any other layout takes glu."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 2c, H, W) -> (B, c, H, W)
        if x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last):
            return F.glu(x, dim=1)
        c = x.shape[1] // 2
        return x[:, :c] * torch.sigmoid(x[:, c:].contiguous(memory_format=torch.channels_last))


class UpBlock(nn.Module):
    """(B, c_in, r, r) -> (B, c_out, 2r, 2r): nearest upsampling, then `convs` rounds of
    3x3 conv to 2 c_out, noise, norm, GLU (the gate halves the channels back to c_out)."""

    def __init__(self, config: GANConfig, c_in: int, c_out: int, resolution: int, convs: int):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(convs):
            layers += [nn.Conv2d(c_in if i == 0 else c_out, 2 * c_out, 3, 1, 1, bias=False),
                       NoiseInjection(resolution), norm2d(config.g_norm, 2 * c_out), GLU()]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Excitation(nn.Module):
    """Skip-layer excitation: a small map -> (B, C_big, 1, 1) channel gates in (0, 1)."""

    def __init__(self, c_small: int, c_big: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.AdaptiveAvgPool2d(4), nn.Conv2d(c_small, c_big, 4, 1, 0, bias=False),
            nn.SiLU(), nn.Conv2d(c_big, c_big, 1, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, small: torch.Tensor, big: torch.Tensor) -> torch.Tensor:
        return big * self.body(small)


class ClassEmbeddings(nn.Module):
    """One learned embedding per label set, summed: (B, k) class indices -> (B, dim)."""

    def __init__(self, cond: tuple[tuple[str, tuple[str, ...]], ...], dim: int, std: float):
        super().__init__()
        self.sets = nn.ModuleDict({name: nn.Embedding(len(classes), dim)
                                   for name, classes in cond})
        for emb in self.sets.values():
            nn.init.normal_(emb.weight, 0.0, std)

    def forward(self, classes: torch.Tensor) -> torch.Tensor:
        if classes.ndim != 2 or classes.shape[1] != len(self.sets):
            raise ValueError(f"classes must be (B, {len(self.sets)}), one index per label "
                             f"set, got {tuple(classes.shape)}")
        parts = [emb(classes[:, i]) for i, emb in enumerate(self.sets.values())]  # (B, dim)
        return torch.stack(parts).sum(0)


def latent_classes(z: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """(B, z_dim) latents -> (B, len(sizes)) int64: a class per label set for each latent,
    uniform, from a generator seeded by the latent's own bytes. What a conditional generator
    draws when it is given no class: a pure function of z, so that a latent always draws the
    same picture (seeds, the explorer, grids), whoever calls the generator."""
    rows = []
    for row in z.detach().float().cpu().contiguous():
        digest = hashlib.sha256(row.numpy().tobytes()).digest()
        gen = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))
        rows.append([int(torch.randint(n, (), generator=gen)) for n in sizes])
    return torch.tensor(rows, dtype=torch.int64).reshape(-1, len(sizes)).to(z.device)


class FastGenerator(nn.Module):
    """z (B, z_dim) [, classes (B, k) int64] -> image (B, C, S, S) in [-1, 1]."""

    def __init__(self, config: GANConfig):
        super().__init__()
        self.config = config
        w = g_widths(config)
        self.init = nn.Sequential(  # (B, z, 1, 1) -> (B, w4, 4, 4)
            nn.ConvTranspose2d(config.z_dim, 2 * w[4], 4, 1, 0, bias=False),
            norm2d(config.g_norm, 2 * w[4]), GLU())
        # One conv per block at the small maps, two from 16 px up: as FastGAN's UpBlockComp.
        self.ups = nn.ModuleDict({
            str(r): UpBlock(config, w[r // 2], w[r], r, 1 if r <= 8 else 2)
            for r in sorted(w) if r > 4})
        self.sle = nn.ModuleDict({str(t): Excitation(w[s], w[t])
                                  for s, t in sle_pairs(config.image_size)})
        self.to_rgb = nn.Conv2d(w[config.image_size], config.channels, 3, 1, 1)
        self.apply(init_weights)
        # Built last, so every other weight draws what an unconditional G of this seed draws.
        # std 1/sqrt(k): the sum over k label sets has z's unit variance, so at lambda 1 the
        # class weighs as much as the noise (the paper concatenates both, equally normalised).
        self.cond = config.cond
        self.cond_lambda = 1.0  # the ramp's value (model.train.cond); not in the state_dict
        self.embed = (ClassEmbeddings(config.cond, config.z_dim, len(config.cond) ** -0.5)
                      if config.cond else None)

    def class_shift(self, classes: torch.Tensor) -> torch.Tensor:
        """(B, k) class indices -> (B, z_dim): what the classes add to z before the first
        layer. Linear in the embeddings, so a morph can blend two classes' shifts."""
        return self.cond_lambda * self.embed(classes)

    def forward(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        """classes: one index per label set of config.cond; a conditional G given none draws
        them from the latents (latent_classes). An unconditional G refuses them."""
        if self.embed is not None:
            if classes is None:
                classes = latent_classes(z, self.config.cond_sizes)
            z = z.reshape(z.shape[0], -1) + self.class_shift(classes)  # (B, z)
        elif classes is not None:
            raise ValueError("this generator is unconditional; it takes no classes")
        x = self.init(z.view(z.shape[0], -1, 1, 1))
        feats = {4: x}
        res = 4
        while res < self.config.image_size:
            res *= 2
            x = self.ups[str(res)](x)
            if str(res) in self.sle:
                x = self.sle[str(res)](feats[res // 8], x)
            feats[res] = x
        return torch.tanh(self.to_rgb(x))


def _sn(module: nn.Module, use: bool) -> nn.Module:
    init_weights(module)
    return spectral_norm(module) if use else module


def _sn_embedding(n: int, dim: int, sn: bool) -> nn.Module:
    """An (n, dim) class embedding initialised like D's convolutions, spectrally normalised
    when D is (its power iteration draws its vectors here, after every other weight)."""
    emb = nn.Embedding(n, dim)
    nn.init.normal_(emb.weight, 0.0, 0.02)
    return spectral_norm(emb) if sn else emb


def _conv_act(conv: nn.Conv2d, sn: bool, norm: Norm) -> list[nn.Module]:
    """conv [+ norm] + LeakyReLU(0.2). No Identity in place of "none": the layers' indices,
    and so the weights' names, stay those of a D without norms."""
    return [_sn(conv, sn), *([norm2d(norm, conv.out_channels)] if norm != "none" else []),
            nn.LeakyReLU(0.2)]


class DownBlock(nn.Module):
    """(B, c_in, r, r) -> (B, c_out, r/2, r/2): the mean of a strided 4x4 conv + 3x3 conv path
    and an average pool + 1x1 path (FastGAN's DownBlockComp; the shortcut keeps gradients
    flowing to the input at initialisation)."""

    def __init__(self, c_in: int, c_out: int, sn: bool, norm: Norm):
        super().__init__()
        self.main = nn.Sequential(
            *_conv_act(nn.Conv2d(c_in, c_out, 4, 2, 1), sn, norm),
            *_conv_act(nn.Conv2d(c_out, c_out, 3, 1, 1), sn, norm))
        self.direct = nn.Sequential(
            nn.AvgPool2d(2), *_conv_act(nn.Conv2d(c_in, c_out, 1, 1, 0), sn, norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.main(x) + self.direct(x)) / 2


def d_widths(config: GANConfig) -> dict[int, int]:
    """Channels of D's feature map at each resolution below the input: w at S/2, doubling
    each halving, at most 16w (64 px, w = 24: 24 at 32, 48 at 16, 96 at 8, 192 at 4)."""
    out, res, width = {}, config.image_size // 2, config.d_width
    while res >= 4:
        out[res] = width
        res, width = res // 2, min(width * 2, 16 * config.d_width)
    return out


class FastDiscriminator(nn.Module):
    """image (B, C, S, S) [, classes (B, k) int64] -> logits (B,). ``features`` also returns
    the 8x8 and 16x16 maps that the reconstruction decoders read."""

    def __init__(self, config: GANConfig):
        super().__init__()
        self.config = config
        w, sn = d_widths(config), config.spectral_norm
        top = config.image_size // 2
        self.stem = nn.Sequential(  # (B, C, S, S) -> (B, w, S/2, S/2)
            _sn(nn.Conv2d(config.channels, w[top], 4, 2, 1), sn), nn.LeakyReLU(0.2))
        # d_norm "batch" is the paper's D (BatchNorm after every conv but the stem's); the
        # trainer then runs real and fake in separate passes, as for any BatchNorm D.
        self.downs = nn.ModuleDict({str(r): DownBlock(w[r * 2], w[r], sn, config.d_norm)
                                    for r in sorted(w, reverse=True) if r < top})
        self.mbstd = MinibatchStd(config.mbstd_group) if config.mbstd_group else nn.Identity()
        extra = 1 if config.mbstd_group else 0
        self.head = nn.Sequential(  # (B, w4 [+1], 4, 4) -> (B, 1, 1, 1)
            *_conv_act(nn.Conv2d(w[4] + extra, w[4], 3, 1, 1), sn, config.d_norm),
            _sn(nn.Conv2d(w[4], 1, 4, 1, 0), sn))
        # The projection (Miyato & Koyama 2018): per label set, an embedding of the class in
        # the space of the head's features, spectrally normalised like the rest of D.
        self.cond = config.cond
        self.cond_lambda = 1.0  # the ramp's value (model.train.cond); not in the state_dict
        self.project = (nn.ModuleDict({name: _sn_embedding(len(classes), w[4], sn)
                                       for name, classes in config.cond})
                        if config.cond else None)

    def features(self, x: torch.Tensor, classes: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """(logits (B,), {resolution: feature map}) for every resolution from S/2 to 4.
        Without classes the logit is the unconditional one (the guard scores so)."""
        x = self.stem(x)
        feats = {x.shape[-1]: x}
        for res in sorted((int(r) for r in self.downs), reverse=True):
            x = self.downs[str(res)](x)
            feats[res] = x
        h = self.head[:-1](self.mbstd(x))  # (B, w4, 4, 4): the features phi projects
        logits = self.head[-1](h).flatten()  # (B,) the unconditional logit
        if classes is not None:
            logits = logits + self.cond_lambda * self.projection(h, classes)
        return logits, feats

    def projection(self, h: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """sum over label sets of <embed(class), phi(x)>, phi the head's features summed over
        the 4x4 positions: (B, w4, 4, 4), (B, k) -> (B,)."""
        if self.project is None:
            raise ValueError("this discriminator is unconditional; it takes no classes")
        if classes.ndim != 2 or classes.shape[1] != len(self.project):
            raise ValueError(f"classes must be (B, {len(self.project)}), one index per label "
                             f"set, got {tuple(classes.shape)}")
        phi = h.float().sum(dim=(2, 3))  # (B, w4)
        embedded = [emb(classes[:, i]) for i, emb in enumerate(self.project.values())]
        return (torch.stack(embedded).sum(0) * phi).sum(dim=1)  # (B,)

    def forward(self, x: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        return self.features(x, classes)[0]


class Decoder(nn.Module):
    """(B, c, 8, 8) -> (B, C, 32, 32) in [-1, 1]: FastGAN's SimpleDecoder, two upsamplings."""

    def __init__(self, c_in: int, channels: int):
        super().__init__()
        c = max(16, c_in // 2)
        self.body = nn.Sequential(
            nn.AdaptiveAvgPool2d(8),
            nn.Upsample(scale_factor=2.0, mode="nearest"),
            nn.Conv2d(c_in, 2 * c, 3, 1, 1, bias=False), nn.BatchNorm2d(2 * c), GLU(),
            nn.Upsample(scale_factor=2.0, mode="nearest"),
            nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), GLU(),
            nn.Conv2d(c // 2, channels, 3, 1, 1), nn.Tanh())
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


RECON_SIZE = 32  # the decoders' output: the whole image and one quarter, both at 32 px


class Reconstructors(nn.Module):
    """D's self-supervision: one decoder rebuilds the image from the 8x8 map, one rebuilds a
    quarter of it from the matching quarter of the 16x16 map. Trained with D; not shipped."""

    def __init__(self, config: GANConfig):
        super().__init__()
        w = d_widths(config)
        self.whole = Decoder(w[8], config.channels)
        self.part = Decoder(w[16], config.channels)

    def forward(self, feats: dict[int, torch.Tensor], real: torch.Tensor, part: int
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(whole rebuilt, whole target, quarter rebuilt, quarter target), all (B, C, 32, 32);
        part in 0..3 picks the quarter (top-left, top-right, bottom-left, bottom-right)."""
        whole = self.whole(feats[8])
        f16 = crop_quarter(feats[16], part)  # (B, c, 8, 8)
        quarter = self.part(f16)
        target_whole = F.interpolate(real, size=RECON_SIZE, mode="area")
        target_part = F.interpolate(crop_quarter(real, part), size=RECON_SIZE, mode="area")
        return whole, target_whole, quarter, target_part


def crop_quarter(x: torch.Tensor, part: int) -> torch.Tensor:
    """One quarter of (B, C, H, W): (B, C, H/2, W/2); 0 top-left, 1 top-right, 2 bottom-left,
    3 bottom-right."""
    h, w = x.shape[-2] // 2, x.shape[-1] // 2
    top, left = (part // 2) * h, (part % 2) * w
    return x[..., top:top + h, left:left + w]
