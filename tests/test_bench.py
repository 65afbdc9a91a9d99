"""python -m model.bench in its quick mode: every figure is produced (no speed assertions)."""

from __future__ import annotations

import json
from pathlib import Path

from model.bench import main


def test_quick_bench_reports_every_figure(tmp_path: Path, tiny_weights: Path) -> None:
    out = tmp_path / "bench.json"
    assert main(["--quick", "--batch", "16", "--weights", str(tiny_weights),
                 "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["quick"] and r["matmul_gflops"]["float32"] > 0 and r["matmul_gflops"]["bfloat16"] > 0
    assert r["train_baseline_images_per_s"] > 0
    for preset in ("classic-dcgan", "default"):
        for amp in ("fp32", "bf16"):
            entry = r[f"train_{preset}_{amp}"]
            assert entry["images_per_s"] > 0 and entry["gflops"] > 0
            assert entry["vs_baseline"] == entry["images_per_s"] / r["train_baseline_images_per_s"]
        assert r[f"step_gflop_{preset}"] > 1  # a 64x64 DCGAN step is a few GFLOP per image
    assert 0 < r["reply_image_ms"]["p50_ms"] <= r["reply_image_ms"]["p95_ms"]
    assert r["generate_batch64_images_per_s"] > 0
    assert r["bot_startup_to_first_poll_s"] is not None and r["bot_startup_to_first_poll_s"] > 0
