"""A fixed, randomly initialised conv net: image features that need no download.

The k-NN metrics of Naeem et al. (ICML 2020, "Reliable Fidelity and Diversity Metrics for
Generative Models") are usually computed on ImageNet features (Inception, VGG). None can be
fetched here (no network, no torchvision), and ImageNet features are a poor fit for flat emoji
art anyway. Naeem et al. show in their section on random embeddings that the features of a
*randomly initialised* VGG (their T4096, the 4096-d fc output of an untrained VGG16) keep
precision / recall / density / coverage meaningful: a random conv net is a fixed, smooth,
local, multi-scale map, so images that look alike land close together, and blur, noise, missing
modes or repeats move the numbers the same way as with trained features (less sharply for
semantic differences, which a random net does not know about).

This module is that idea at emoji scale: four VGG-style blocks of 3x3 conv (random He-normal
weights, no bias) + ReLU + 2x2 max pooling, widths 32, 64, 128, 256, on images first resized to
64 px (antialiased, so 64 and 128 px generators are measured in one space). The last map,
(256, 4, 4), is flattened to 4096 numbers: coarse layout and colour survive, and max pooling
keeps the strongest local edge responses, so softness shows. Measured on emoji-people (450 vs
450 images): two real halves score precision / recall / density / coverage 0.98 / 0.99 / 0.98 /
0.96; the same images blurred (Gaussian, 1 px) 0.90 / 0.37 / 0.58 / 0.69. Average pooling,
tried first, barely saw that blur (0.95 / 0.97 / 0.85 / 0.92).

The weights come from one fixed seed through their own CPU generator, so the features are the
same on every machine and run, and never depend on the global torch RNG. Changing WEIGHT_SEED
moves scores a little (recall of that blur: 0.37 vs 0.52 with another seed): compare numbers
from one version of this module. Cost: ~60 M multiply-adds per image, a few seconds per
thousand images on CPU.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

FEATURE_SIZE = 64  # every image is resized to this before the net
WIDTHS = (32, 64, 128, 256)  # channels per block; 4 halvings: 64 px -> a 4x4 map
FEATURE_DIM = WIDTHS[-1] * (FEATURE_SIZE >> len(WIDTHS)) ** 2  # 4096
WEIGHT_SEED = 2020  # the fixed draw: changing it changes every score
_BATCH = 128  # images per forward pass: bounds memory to ~30 MB of activations


@functools.lru_cache(maxsize=1)
def _weights() -> tuple[torch.Tensor, ...]:
    """The conv weights, (out, in, 3, 3) each, He-normal (std sqrt(2 / fan_in)) from WEIGHT_SEED.

    He scaling keeps the activations' magnitude roughly constant through the ReLUs, so no
    layer's features drown the others and no normalisation layer is needed.
    """
    gen = torch.Generator(device="cpu").manual_seed(WEIGHT_SEED)
    weights, c_in = [], 3
    for c_out in WIDTHS:
        fan_in = c_in * 9
        w = torch.randn(c_out, c_in, 3, 3, generator=gen) * (2.0 / fan_in) ** 0.5
        weights.append(w)
        c_in = c_out
    return tuple(weights)


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float (N, 3, size, size) in [0, 255], antialiased.

    Downscaling by an integer factor is an exact box average (area); anything else is
    antialiased bilinear. The same size is returned unchanged (as float).
    """
    x = images.float()
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x
    if h % size == 0 and w % size == 0:
        return F.interpolate(x, size=(size, size), mode="area")
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                         align_corners=False)


def downscale_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> uint8 (N, 3, size, size) through resize_images, rounded."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return resize_images(images, size).round_().clamp_(0, 255).to(torch.uint8)


def random_features(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) images, any H, W -> float32 (N, FEATURE_DIM) features, on CPU.

    Deterministic: the same images give the same features (batching does not change them
    beyond float rounding).
    """
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 in [0, 255], got dtype {images.dtype}")
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W), got shape {tuple(images.shape)}")
    weights = _weights()
    out = torch.empty(images.shape[0], FEATURE_DIM)
    with torch.inference_mode():
        for start in range(0, images.shape[0], _BATCH):
            chunk = images[start : start + _BATCH].cpu()
            x = resize_images(chunk, FEATURE_SIZE).div_(127.5).sub_(1.0)  # (B, 3, 64, 64)
            for w in weights:
                x = F.max_pool2d(F.relu(F.conv2d(x, w, padding=1)), 2)  # (B, C, S/2, S/2)
            out[start : start + chunk.shape[0]] = x.flatten(1)  # (B, 4096)
    return out
