"""The yardstick: DCGAN trained the plain way, as pytorch/examples/dcgan does.

An image folder read through a DataLoader whose workers decode, resize and crop every picture
with PIL at every step; fp32, contiguous (NCHW) tensors; D run three times per step (real, fake
detached, fake again for G) with weight gradients for D in the G step that are then thrown away.
The networks are this repo's classic-dcgan ones (nz 100, ngf = ndf = 64, BatchNorm in both), so
`python -m model.bench` can compare the trainer against it at equal maths: images/s, and SWD
after the same number of images seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from model.nets.config import GANConfig
from model.nets.dcgan import Discriminator, Generator

CONFIG = GANConfig(z_dim=100, d_norm="batch", spectral_norm=False)


class FolderDataset(torch.utils.data.Dataset):
    """ImageFolder + Resize + CenterCrop + ToTensor + Normalize, in PIL, every step."""

    def __init__(self, folder: Path, size: int = 64):
        self.paths = sorted(folder.rglob("*.png"))
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        with Image.open(self.paths[i]) as img:
            img = img.convert("RGB")
            w, h = img.size
            scale = self.size / min(w, h)
            img = img.resize((max(self.size, round(w * scale)), max(self.size, round(h * scale))),
                             Image.Resampling.BILINEAR)
            left, top = (img.width - self.size) // 2, (img.height - self.size) // 2
            img = img.crop((left, top, left + self.size, top + self.size))
            x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
        return (x - 0.5) / 0.5  # (3, S, S) in [-1, 1]


@dataclass
class PlainDCGAN:
    """pytorch/examples/dcgan's loop, one call of step() per batch."""

    netG: Generator
    netD: Discriminator
    optG: torch.optim.Optimizer
    optD: torch.optim.Optimizer
    batches: object  # an endless iterator of (B, 3, S, S) real batches
    device: torch.device

    def step(self) -> None:
        criterion = torch.nn.functional.binary_cross_entropy_with_logits
        real = next(self.batches).to(self.device)  # type: ignore[call-overload]
        b = real.shape[0]
        ones, zeros = torch.ones(b, device=self.device), torch.zeros(b, device=self.device)
        self.netD.zero_grad()
        criterion(self.netD(real), ones).backward()
        fake = self.netG(torch.randn(b, CONFIG.z_dim, device=self.device))
        criterion(self.netD(fake.detach()), zeros).backward()
        self.optD.step()
        self.netG.zero_grad()
        criterion(self.netD(fake), ones).backward()
        self.optG.step()


def plain_dcgan(folder: Path, device: torch.device, batch: int = 64, workers: int = 2,
                seed: int = 0) -> PlainDCGAN:
    torch.manual_seed(seed)
    netG, netD = Generator(CONFIG).to(device), Discriminator(CONFIG).to(device)
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = FolderDataset(folder)
    if len(data) < batch:
        raise ValueError(f"{folder} has {len(data)} PNG files, fewer than one batch of {batch}")
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True,
                                         num_workers=workers, drop_last=True,
                                         persistent_workers=workers > 0,
                                         generator=torch.Generator().manual_seed(seed))

    def endless():  # type: ignore[no-untyped-def]
        while True:
            yield from loader

    return PlainDCGAN(netG, netD, optG, optD, endless(), device)
