"""Latent sampling: determinism per request, noise around seeds, slerp, the seeds file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from model.data.kinds import Label
from model.errors import UserError
from model.serve.latents import near_seed, request_rng, slerp
from model.serve.reply import ServeOptions, serve
from model.serve.sampler import Sampler
from model.serve.seeds import Match, Seed, SeedBook, load_seeds, pick_seed, save_seeds
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

    from model.serve.pictures import to_gif

    frames = torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8)
    gif = Image.open(io.BytesIO(to_gif(frames, scale=4, resample=resample)))
    first = np.asarray(gif.convert("RGB"))
    assert first.shape == (32, 32, 3)
    assert _blocky(first, 4) is blocky


# ---------------------------------------------------------------- labels and kinds


def _labelled(kind: str, tone: str) -> Label:
    return Label(kind, "person-role", tone, "test")


def _book() -> SeedBook:
    """Seven seeds: cooks in two tones, an astronaut, one unlabelled, one of empty kind."""
    labels = [_labelled("cook", "dark"), _labelled("cook", "light"), _labelled("cook", "light"),
              _labelled("astronaut", ""), None, Label("", "", "medium", "x"),
              _labelled("astronaut", "medium")]
    return SeedBook(2, [Seed(i + 1, [float(i), 0.0], "", label)
                        for i, label in enumerate(labels)])


def test_labels_round_trip_through_the_seeds_file_and_old_files_load(tmp_path: Path) -> None:
    from model.data import kinds

    assert Label is kinds.Label  # one class: the explorer and the bot see the same labels
    path = tmp_path / "seeds.json"
    save_seeds(path, _book())
    back = load_seeds(path, 2)
    assert [s.label for s in back.seeds] == [s.label for s in _book().seeds]
    assert "label" not in json.loads(path.read_text())["seeds"][4]  # unlabelled: no key
    old = tmp_path / "old.json"  # a seeds file from before labels
    old.write_text(json.dumps({"version": 1, "z_dim": 2, "seeds": [
        {"id": 1, "z": [0.0, 1.0], "note": "person"}]}))
    assert load_seeds(old, 2).seeds[0].label is None


def test_a_bad_tone_in_a_seeds_file_is_a_one_line_error_naming_the_file(tmp_path: Path
                                                                        ) -> None:
    path = tmp_path / "seeds.json"
    path.write_text(json.dumps({"version": 1, "z_dim": 2, "seeds": [
        {"id": 1, "z": [0.0, 1.0], "label": {"kind": "cook", "tone": "purple"}}]}))
    with pytest.raises(UserError) as err:
        load_seeds(path, 2)
    message = str(err.value)
    assert str(path) in message and "'purple'" in message and "\n" not in message


def test_the_book_counts_its_kinds() -> None:
    assert _book().kinds() == {"cook": 3, "astronaut": 2}  # most first; no "" kind
    assert SeedBook(2).kinds() == {}


def _picks(book: SeedBook, kind: str | None, tone: str | None) -> tuple[set[int], Match]:
    """Every seed pick_seed can choose for a request (over many rngs), and its Match."""
    ids, matches = set(), set()
    for i in range(200):
        seed, match = pick_seed(book, request_rng(f"r{i}"), kind, tone)
        ids.add(seed.id)
        matches.add(match)
    assert len(matches) == 1  # what was honoured depends on the book, never on chance
    return ids, matches.pop()


@pytest.mark.parametrize(("kind", "tone", "ids", "match"), [
    (None, None, {1, 2, 3, 4, 5, 6, 7}, Match(True, True)),  # nothing asked: any seed
    ("cook", None, {1, 2, 3}, Match(True, True)),
    ("Cook", "light", {2, 3}, Match(True, True)),
    ("astronaut", "dark", {4, 7}, Match(True, False)),  # the kind, not the tone
    ("vampire", "medium", {6, 7}, Match(False, True)),  # no such kind: the tone
    ("vampire", None, {1, 2, 3, 4, 5, 6, 7}, Match(False, True)),
    ("vampire", "medium-light", {1, 2, 3, 4, 5, 6, 7}, Match(False, False)),
    (None, "dark", {1}, Match(True, True)),
    (None, "medium-dark", {1, 2, 3, 4, 5, 6, 7}, Match(True, False)),
])
def test_pick_seed_honours_the_kind_then_the_tone(kind: str | None, tone: str | None,
                                                  ids: set[int], match: Match) -> None:
    assert _picks(_book(), kind, tone) == (ids, match)


def test_pick_seed_without_seeds_and_with_a_bad_tone() -> None:
    gen = request_rng("x")
    assert pick_seed(SeedBook(2), gen) == (None, Match(True, True))
    assert pick_seed(SeedBook(2), gen, "cook", "dark") == (None, Match(False, False))
    with pytest.raises(ValueError, match="'purple'"):
        pick_seed(_book(), gen, "cook", "purple")


def _as_before(sampler: Sampler, book: SeedBook, request_id: str,
               options: ServeOptions) -> torch.Tensor:
    """serve() without a guard as it was before kinds: one randint over all the seeds, then
    the noise, both from the request's rng."""
    rng = request_rng(request_id)
    seed = book.seeds[int(torch.randint(len(book.seeds), (1,), generator=rng))]
    return sampler.generate(near_seed(seed.tensor(), 1, options.sigma, rng))[0]


def test_a_request_that_asks_nothing_draws_the_picture_it_drew_before(
        tiny_weights: Path) -> None:
    sampler = Sampler.load(tiny_weights, "cpu")
    gen = torch.Generator().manual_seed(1)
    labels = [_labelled("cook", "dark"), None, _labelled("astronaut", ""), None]
    book = SeedBook(TINY.z_dim, [Seed(i + 1, torch.randn(TINY.z_dim, generator=gen).tolist(),
                                      "", label) for i, label in enumerate(labels)])
    options = ServeOptions(sigma=0.5)
    chosen = set()
    for i in range(12):
        request = f"mastodon:{1000 + i}"
        served = serve(sampler, book, request, options)
        assert torch.equal(served.image, _as_before(sampler, book, request, options))
        assert torch.equal(serve(sampler, book, request, options, kind=None, tone=None).image,
                           served.image)
        assert served.label == book.get(served.seed_id).label
        chosen.add(served.seed_id)
    assert len(chosen) > 1  # the pin covers more than one seed


def test_serve_by_kind_draws_near_a_seed_of_that_kind_and_says_so(tiny_weights: Path) -> None:
    sampler = Sampler.load(tiny_weights, "cpu")
    book = SeedBook(TINY.z_dim, [
        Seed(1, [0.5] * TINY.z_dim, "", _labelled("cook", "dark")),
        Seed(2, [-0.5] * TINY.z_dim, "", _labelled("astronaut", "light")),
        Seed(3, [0.0] * TINY.z_dim)])
    for i in range(8):
        served = serve(sampler, book, f"r{i}", ServeOptions(), kind="astronaut")
        assert served.seed_id == 2 and served.label == book.get(2).label
        assert serve(sampler, book, f"r{i}", ServeOptions(), tone="dark").seed_id == 1
    plain = serve(sampler, book, "r0", ServeOptions(), seed_id=3, kind="cook")
    assert plain.seed_id == 3 and plain.label is None  # seed_id wins over the kind
