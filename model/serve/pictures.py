"""Pictures out: uint8 tensors, PIL images, reply PNGs, GIFs and grids.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

PNG_LEVEL = 1  # zlib level of reply PNGs: see render_png


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float (B, C, H, W) -> uint8 on CPU."""
    return images.float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu()


def to_pil(image: torch.Tensor, scale: int = 1,
           resample: Image.Resampling = Image.Resampling.NEAREST) -> Image.Image:
    """One uint8 (C, H, W) image -> PIL, optionally upscaled for viewing."""
    pil = Image.fromarray(image.permute(1, 2, 0).numpy())
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), resample)
    return pil


def _resampling(name: str) -> Image.Resampling:
    return Image.Resampling.NEAREST if name == "nearest" else Image.Resampling.LANCZOS


def render_png(image: torch.Tensor, scale: int = 4, resample: str = "lanczos",
               compress_level: int = PNG_LEVEL) -> bytes:
    """One uint8 (C, H, W) picture -> PNG bytes, upscaled for viewing: the bot's reply image.

    zlib level 1, not PIL's default 6: encoding is most of a reply's cost and level 1 cuts it
    for a slightly larger file, still far below any platform's upload limit; optimize=True
    costs more again for little. The figures: README, `python -m bot.bench --levers`.
    """
    import io

    buf = io.BytesIO()
    to_pil(image, scale, _resampling(resample)).save(buf, format="PNG",
                                                     compress_level=compress_level)
    return buf.getvalue()


def to_gif(images: torch.Tensor, scale: int = 4, ms: int = 120, bounce: bool = True,
           resample: str = "lanczos") -> bytes:
    """uint8 (B, C, H, W) frames -> a looping GIF (there and back when bounce), upscaled like
    the PNG replies (Lanczos unless resample is "nearest"), so a morph looks like its picture.
    """
    import io

    frames = [to_pil(img, scale, _resampling(resample)) for img in images]
    if bounce and len(frames) > 2:
        frames = frames + frames[-2:0:-1]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=ms,
                   loop=0, disposal=2)
    return buf.getvalue()


def make_grid(images: torch.Tensor, nrow: int = 8, pad: int = 2) -> np.ndarray:
    """uint8 (B, C, H, W) -> one (rows*H, nrow*W, C) uint8 array on a white background."""
    b, c, h, w = images.shape
    ncol = min(nrow, b)
    rows = math.ceil(b / ncol)
    sheet = np.full((rows * (h + pad) + pad, ncol * (w + pad) + pad, c), 255, np.uint8)
    arr = images.permute(0, 2, 3, 1).numpy()
    for i in range(b):
        y, x = divmod(i, ncol)
        sheet[pad + y * (h + pad): pad + y * (h + pad) + h,
              pad + x * (w + pad): pad + x * (w + pad) + w] = arr[i]
    return sheet
