"""Benchmark figures: percentiles of timings, and figures judged against their targets.

Shared by the two benchmarks (`python -m model.bench` for training and generation,
`python -m bot.bench` for serving), so that both report and judge alike.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from model.files import atomic_write_text


def percentiles(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {"p50_ms": statistics.median(times) * 1000,
            "p95_ms": times[int(0.95 * (len(times) - 1))] * 1000}


def judge(figures: dict[str, float | None], targets: dict[str, float]
          ) -> dict[str, dict[str, Any]]:
    """Each target against this run's figure: met, missed, or None where it was not measured.
    Times (keys ending in _ms or _s) must stay at or under their target, ratios reach it."""
    out = {}
    for key, target in targets.items():
        value = figures.get(key)
        lower_is_better = key.endswith(("_ms", "_s"))
        met = None if value is None else (value <= target if lower_is_better else value >= target)
        out[key] = {"value": value, "target": target, "met": met}
    return out


def print_targets(judged: dict[str, dict[str, Any]]) -> None:
    for key, t in judged.items():
        state = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        value = "-" if t["value"] is None else f"{t['value']:.2f}"
        print(f"target {key:22s} {value:>7s} (target {t['target']:g}): {state}")


def finish(r: dict[str, Any], judged: dict[str, dict[str, Any]], json_path: Path | None
           ) -> int:
    """The end of a benchmark run: the targets printed and stored with the figures, and the
    figures written to json_path (when given) exactly as judged. Returns the exit status."""
    r["targets"] = judged
    print_targets(judged)
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(r, indent=2) + "\n")
    return 0
