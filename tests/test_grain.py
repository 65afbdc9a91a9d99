"""model.evaluate.grain: near 0 for flat areas with clean edges, high for what a small
generator gets wrong in them (speckle, one-pixel stripes)."""

from __future__ import annotations

import torch

from model.evaluate.grain import grain


def flat_figure() -> torch.Tensor:
    """A (3, 32, 32) uint8 picture: a white ground, a skin disc, a blue coat (sharp edges)."""
    img = torch.full((3, 32, 32), 255, dtype=torch.uint8)
    yy, xx = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    head = (yy - 10) ** 2 + (xx - 16) ** 2 <= 36
    img[:, head] = torch.tensor([240, 200, 160], dtype=torch.uint8)[:, None]
    img[:, 20:, 6:26] = torch.tensor([30, 60, 200], dtype=torch.uint8)[:, None, None]
    return img


def test_flat_areas_with_sharp_edges_score_near_zero() -> None:
    assert grain(flat_figure()[None]).item() < 1  # only the corners move


def test_speckle_in_a_coat_and_stripes_score_high_and_in_order() -> None:
    clean = flat_figure()
    speckled = clean.clone()
    noise = torch.randint(-60, 61, (3, 12, 20), generator=torch.Generator().manual_seed(0))
    speckled[:, 20:, 6:26] = (speckled[:, 20:, 6:26].int() + noise).clamp(0, 255).to(torch.uint8)
    striped = clean.clone()
    striped[:, :, ::4] = 0  # one-pixel dark stripes down the figure
    scores = grain(torch.stack([clean, speckled, striped])).tolist()
    assert scores[0] < 1 < 3 < scores[1] and scores[2] > 3
    # the score is per picture: a batch gives what each alone gives
    assert grain(speckled[None]).item() == scores[1]
