"""Latent sampling: determinism per request, noise around seeds, slerp, the seeds file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from model.errors import UserError
from model.sampler import (
    Sampler,
    Seed,
    SeedBook,
    load_seeds,
    near_seed,
    request_rng,
    save_seeds,
    slerp,
)
from tests.helpers import TINY


def test_same_request_id_draws_the_same_image(tiny_weights: Path) -> None:
    s = Sampler.load(tiny_weights, "cpu")
    seed = torch.randn(TINY.z_dim)
    a = s.generate(near_seed(seed, 1, 0.5, request_rng("mastodon:42")))
    b = s.generate(near_seed(seed, 1, 0.5, request_rng("mastodon:42")))
    c = s.generate(near_seed(seed, 1, 0.5, request_rng("mastodon:43")))
    assert a.dtype == torch.uint8 and a.shape == (1, 3, 32, 32)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_generate_rejects_latents_of_the_wrong_size(tiny_weights: Path) -> None:
    s = Sampler.load(tiny_weights, "cpu")
    with pytest.raises(ValueError, match=r"\(B, 8\)"):
        s.generate(torch.randn(2, 9))


def test_near_seed_noise_has_the_asked_sigma() -> None:
    z = torch.randn(64)
    zs = near_seed(z, 4000, 0.5, torch.Generator().manual_seed(0))
    assert zs.shape == (4000, 64)
    assert abs((zs - z).std().item() - 0.5) < 0.01
    assert (zs.mean(0) - z).abs().max().item() < 0.05


def test_norm_preserving_variant_stays_on_the_prior() -> None:
    d = 40
    gen = torch.Generator().manual_seed(0)
    seeds = torch.randn(2000, d, generator=gen)
    plain = torch.cat([near_seed(s, 1, 0.5, gen) for s in seeds])
    kept = torch.cat([near_seed(s, 1, 0.5, gen, preserve_norm=True) for s in seeds])
    # E|z + 0.5 e|^2 = 1.25 d, while sqrt(0.75) z + 0.5 e keeps E|z'|^2 = d
    assert abs(plain.pow(2).sum(1).mean().item() / d - 1.25) < 0.03
    assert abs(kept.pow(2).sum(1).mean().item() / d - 1.0) < 0.03


def test_slerp_hits_the_ends_and_keeps_the_norm_between_equal_norm_latents() -> None:
    a, b = torch.randn(40), torch.randn(40)
    b = b / b.norm() * a.norm()
    path = slerp(a, b, torch.linspace(0, 1, 9))
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    assert torch.allclose(path.norm(dim=1), a.norm().expand(9), rtol=1e-4)
    mid = (a + b) / 2  # the straight line sags towards the origin; slerp does not
    assert path[4].norm() > mid.norm()


def test_seeds_round_trip_with_backup(tmp_path: Path) -> None:
    path = tmp_path / "seeds.json"
    book = SeedBook(3, [Seed(1, [0.1, 0.2, 0.3], "smiling")])
    save_seeds(path, book)
    book.seeds.append(Seed(book.next_id(), [1.0, 2.0, 3.0], ""))
    save_seeds(path, book)
    back = load_seeds(path, 3)
    assert [s.id for s in back.seeds] == [1, 2] and back.get(1).note == "smiling"
    assert len(json.loads((tmp_path / "seeds.json.bak").read_text())["seeds"]) == 1
    assert math.isclose(back.get(2).z[2], 3.0)


def test_seeds_for_another_z_dim_are_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "seeds.json"
    save_seeds(path, SeedBook(3, [Seed(1, [0.0, 0.0, 0.0])]))
    before = path.read_bytes()
    with pytest.raises(UserError, match="z_dim 3 but the generator has z_dim 40"):
        load_seeds(path, 40)
    assert path.read_bytes() == before


def test_malformed_seeds_file_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "seeds.json"
    path.write_text('{"version": 1, "z_dim": 3, "seeds": [{"id": 1}]}')
    with pytest.raises(UserError, match="malformed") as err:
        load_seeds(path, 3)
    assert "\n" not in str(err.value)
    assert load_seeds(tmp_path / "absent.json", 3).seeds == []


def test_slerp_between_opposite_latents_stays_finite() -> None:
    a = torch.ones(8)
    path = slerp(a, -a, torch.linspace(0, 1, 5))
    assert torch.isfinite(path).all() and torch.allclose(path[-1], -a)


def test_a_seed_of_the_wrong_length_is_named_with_its_own_length(tmp_path: Path) -> None:
    path = tmp_path / "seeds.json"
    path.write_text(json.dumps({"version": 1, "z_dim": 40, "seeds": [
        {"id": 1, "z": [0.0] * 40}, {"id": 7, "z": [0.0] * 39}]}))
    with pytest.raises(UserError) as err:
        load_seeds(path, 40)
    message = str(err.value)
    assert "seed #7" in message and "39 numbers" in message and "z_dim 40" in message
    assert "z_dim 40 but the generator has z_dim 40" not in message and "\n" not in message


def _blocky(frame: np.ndarray, scale: int) -> bool:
    """Whether every scale x scale block of an (H, W, 3) picture is one colour."""
    h, w, _ = frame.shape
    blocks = frame.reshape(h // scale, scale, w // scale, scale, 3)
    return bool((blocks == blocks[:, :1, :, :1]).all())


@pytest.mark.parametrize(("resample", "blocky"), [("lanczos", False), ("nearest", True)])
def test_gif_frames_are_upscaled_like_the_png_replies(resample: str, blocky: bool) -> None:
    import io

    from PIL import Image

    from model.sampler import to_gif

    frames = torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8)
    gif = Image.open(io.BytesIO(to_gif(frames, scale=4, resample=resample)))
    first = np.asarray(gif.convert("RGB"))
    assert first.shape == (32, 32, 3)
    assert _blocky(first, 4) is blocky
