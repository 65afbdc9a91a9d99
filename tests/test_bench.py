"""python -m model.bench in its quick mode: every figure is produced (no speed assertions)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from model.bench import TARGETS, lever_setups, main
from model.errors import run_cli


def test_quick_bench_reports_every_figure(tmp_path: Path, tiny_weights: Path,
                                          people_dir: Path) -> None:
    out = tmp_path / "bench.json"
    assert main(["--quick", "--batch", "8", "--weights", str(tiny_weights), "--levers",
                 "--quality", "0.016", "--quality-data", str(people_dir), "--quality-n", "8",
                 "--workers", "0", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    peak = r["matmul_gflops"]
    assert r["quick"] and peak["float32"] > 0 and peak["bfloat16"] > 0
    assert r["train_baseline_images_per_s"] > 0
    for preset in ("classic-dcgan", "default"):
        assert r[f"step_gflop_{preset}"] > 1  # a 64x64 DCGAN step is a few GFLOP per image
        entry = r[f"train_{preset}_fp32"]
        assert entry["images_per_s"] > 0 and entry["gflops"] > 0
        assert entry["vs_baseline"] == entry["images_per_s"] / r["train_baseline_images_per_s"]
        bf16 = r[f"train_{preset}_bf16"]
        # measured where bf16 is native, otherwise skipped with the measured reason
        assert (bf16.get("images_per_s", 0) > 0) != ("skipped" in bf16)
        assert ("skipped" in bf16) == (peak["bfloat16"] <= peak["float32"])
    assert 0 < r["reply_image_ms"]["p50_ms"] <= r["reply_image_ms"]["p95_ms"]
    assert r["generate_batch64_images_per_s"] > 0
    assert r["bot_startup_to_first_poll_s"] is not None and r["bot_startup_to_first_poll_s"] > 0

    # every lever ran (or says why not), each against its preset's first row
    levers = r["levers"]
    assert [(x["preset"], x["lever"]) for x in levers] == [
        (p, label) for p, label, _ in lever_setups(peak["bfloat16"] > peak["float32"], True)]
    for row in levers:
        assert "error" not in row, row
        assert row["images_per_s"] > 0
    firsts = {row["preset"]: row for row in reversed(levers)}
    assert all(row["effect"] == 0 for row in firsts.values())
    serving = {row["lever"]: row for row in r["serving_levers"]}
    assert len(serving) == 6 and all(0 < x["p50_ms"] <= x["p95_ms"] for x in serving.values())
    assert set(r["lazy_imports_s"]) >= {"mastodon", "tweepy", "fastapi"}

    q = r["quality"]
    assert q["kimg"] == 0.016 and q["samples"] == 8
    for side in ("plain", "trainer"):
        assert q[side]["swd"]["mean"] > 0 and len(q[side]["swd"]["per_level"]) >= 2

    assert set(r["targets"]) == set(TARGETS)
    for key, t in r["targets"].items():
        assert t["target"] == TARGETS[key] and isinstance(t["met"], bool)


@pytest.mark.parametrize(("argv", "words"), [(["--batch", "0"], "--batch"),
                                             (["--quality", "-1"], "--quality")])
def test_bad_arguments_are_one_line_errors(argv: list[str], words: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        run_cli(main, argv)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and words in err and len(err.splitlines()) == 1


def test_the_serving_bench_costs_every_kind_of_reply(tiny_weights: Path) -> None:
    """python -m bot.bench --drawing-only: one picture, four variations and a morph GIF, each
    drawn through the bot's Artist (the files it would send, not just the tensors)."""
    from PIL import Image

    from bot.artist import Artist, ArtistOptions
    from bot.bench import drawing_costs
    from model.sampler import Seed, SeedBook, save_seeds
    from tests.conftest import TINY

    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, [
        Seed(1, [0.2] * TINY.z_dim), Seed(2, [-0.2] * TINY.z_dim)]))
    artist = Artist(tiny_weights, tiny_weights / "seeds.json", ArtistOptions(device="cpu"))
    costs = drawing_costs(artist, repeats=3)
    assert list(costs) == ["one picture", "more like this (4 pictures)", "morph GIF"]
    for c in costs.values():
        assert 0 < c["p50_ms"] <= c["p95_ms"] and c["kib"] > 0
    one, four = costs["one picture"]["kib"], costs["more like this (4 pictures)"]["kib"]
    assert 3 * one < four < 5 * one  # four PNGs of the same size
    gif = artist.morph("bench", [0.2] * TINY.z_dim, 1)
    frames = Image.open(io.BytesIO(gif.data))
    total = 0
    for i in range(frames.n_frames):  # PIL merges equal neighbours, adding their durations
        frames.seek(i)
        total += frames.info["duration"]
    o = artist.options
    assert frames.format == "GIF" and total == (2 * o.morph_frames - 2) * o.morph_ms <= 2000
