"""Serving on this machine: what a reply costs to draw, how fast the bot starts, and its reply
latency and memory against mastodon-mock (a real Mastodon API on loopback).

    python -m bot.bench                  # all of it: shipped weights, 50 mentions, 10 users
    python -m bot.bench --levers         # plus each serving lever flipped on its own
    python -m bot.bench --no-server      # all but mastodon-mock (no dev extra needed)
    python -m bot.bench --drawing-only   # the drawing costs alone: no server, no start-up
    python -m bot.bench --quick          # seconds (CI): same code, few repeats
    python -m bot.bench --mentions 200 --weights runs/emoji --json bench_serving.json

Drawing goes through the bot's own Artist, exactly as a reply is drawn, without the network:
one reply image (a seed + noise, the generator, 4x Lanczos, PNG) without the guard and with it
(best of 8 by the discriminator, when the weights ship one), p50 and p95; then each kind of
reply: one picture, a "more like this" reply (four pictures near one latent, one batch) and a
morph GIF (slerp to another good seed and back). Start-up: `python -m bot once` on the local
platform, from process start to its first poll. The targets are checked and printed; nothing
here asserts.

Server: mentions are posted one at a time through the API and each is answered by one poll
cycle. Latency is measured per mention from the moment the poll fetched it to the moment its
reply (image upload + status) was accepted by the server, as the service records it. Memory is
the resident set of a separate `python -m bot run` process after it answered a mention. Needs
the dev extra (mastodon-mock).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bot.config import load_settings
from bot.drawing.artist import Artist, ArtistOptions
from bot.platforms.mastodon import MastodonPlatform
from bot.service import Clock, Service
from bot.settings import REPO
from bot.state.store import State
from model.device import machine_description
from model.errors import UserError, run_cli
from model.figures import finish, judge, percentiles

# A reply image without the guard, with it (best of 8, issue "Pictures 2"), and start-up.
TARGETS = {"reply_p50_ms": 15.0, "reply_guard_p50_ms": 30.0, "startup_s": 3.0}


# ---------------------------------------------------------------- drawing


def bench_reply(artist: Artist, repeats: int) -> dict[str, float]:
    """One reply image as the service draws it (Artist.draw: a seed + noise, the candidates
    through G, the guard's pick when the artist has one, upscale, PNG), p50 / p95 in ms."""
    times = []
    for i in range(repeats + 3):  # the first three warm up
        t0 = time.perf_counter()
        artist.draw(f"bench:{i}")
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return percentiles(times)


def serving_levers(weights: Path, seeds: Path, repeats: int) -> list[dict[str, Any]]:
    """A reply without the guard with one serving lever flipped: PNG level, upscale filter."""
    level6 = Artist(weights, seeds, ArtistOptions(best_of=1, png_level=6))
    rows = [{"lever": "reply, PNG zlib level 6 (PIL default)", **bench_reply(level6, repeats)}]
    nearest = Artist(weights, seeds, ArtistOptions(best_of=1, resample="nearest"))
    rows.append({"lever": "reply, nearest upscale", **bench_reply(nearest, repeats)})
    for r in rows:
        print(f"  {r['lever']:44s} p50 {r['p50_ms']:6.2f} ms  p95 {r['p95_ms']:6.2f} ms")
    return rows


def drawing_costs(artist: Artist, repeats: int) -> dict[str, dict[str, float]]:
    """p50 / p95 in ms (and bytes) of each kind of reply, drawn as the service draws them."""
    first = artist.draw("bench:warm")
    kinds: dict[str, Callable[[int], list[bytes]]] = {
        "one picture": lambda i: [artist.draw(f"bench:{i}").data],
        "more like this (4 pictures)": lambda i: [
            d.data for d in artist.draw_near(f"bench:v{i}", first.latent, 4,
                                             artist.options.variation_sigma, first.seed_id)],
        "morph GIF": lambda i: [artist.morph(f"bench:m{i}", first.latent, first.seed_id).data],
    }
    out = {}
    for name, draw in kinds.items():
        draw(-1)  # warm-up
        times, sizes = [], []
        for i in range(repeats):
            t0 = time.perf_counter()
            files = draw(i)
            times.append(time.perf_counter() - t0)
            sizes.append(sum(len(f) for f in files))
        out[name] = {**percentiles(times), "kib": statistics.median(sizes) / 1024}
    return out


def print_drawing_costs(costs: dict[str, dict[str, float]]) -> None:
    for name, c in costs.items():
        print(f"{name}: p50 {c['p50_ms']:.1f} ms, p95 {c['p95_ms']:.1f} ms, "
              f"{c['kib']:.0f} KiB")


# ---------------------------------------------------------------- start-up


def bot_env(weights: Path, tmp: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(BOT_WEIGHTS_DIR=str(weights.resolve()), BOT_LOCAL__STDIN="false",
               BOT_STATE_PATH=str(Path(tmp) / "s.db"), PYTHONPATH=str(REPO))
    return env


def bench_bot_startup(weights: Path) -> float | None:
    """Seconds from starting `python -m bot once` (local platform) to its first poll, or None
    when it exits without one."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "bot", "once"], cwd=tmp,
                                env=bot_env(weights, tmp), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        elapsed = None
        for line in proc.stderr:
            if "first poll" in line:
                elapsed = time.perf_counter() - t0
                break
        proc.stderr.read()
        proc.wait(timeout=120)
    return elapsed


def lazy_import_savings() -> dict[str, float]:
    """Seconds of imports the local platform's start never pays: what lazy imports save."""
    code = ("import time, bot.__main__\n"
            "for name in ('mastodon', 'tweepy', 'fastapi', 'uvicorn', 'apscheduler.schedulers."
            "background'):\n"
            "    t = time.perf_counter(); __import__(name)\n"
            "    print(name, time.perf_counter() - t)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120, check=True)
    return {line.split()[0]: float(line.split()[1]) for line in out.stdout.splitlines()}


# ---------------------------------------------------------------- against mastodon-mock


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def service_rss(base_url: str, weights: Path, tmp: Path, user: object) -> float:
    """Start `python -m bot run` against the server, let it answer one mention, measure it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(BOT_PLATFORM="mastodon", BOT_MASTODON__BASE_URL=base_url,
               BOT_MASTODON__ACCESS_TOKEN="bot_token", BOT_WEIGHTS_DIR=str(weights.resolve()),
               BOT_STATE_PATH=str(tmp / "rss.db"), BOT_POLL_SECONDS="1",
               BOT_DAILY_POST_ENABLED="false", BOT_USER_LIMIT_PER_HOUR="0")
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env, cwd=tmp,
                            stderr=subprocess.PIPE, text=True)
    try:
        user.status_post("@bot create a human image (memory)")  # type: ignore[attr-defined]
        assert proc.stderr is not None
        tail: list[str] = []
        for line in proc.stderr:  # the service logs each reply
            tail = [*tail[-5:], line.strip()]
            if ": replied " in line:
                return rss_mib(proc.pid)
        raise UserError(f"python -m bot run exited before replying: {' | '.join(tail)}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def bench_server(weights: Path, mentions: int, users_n: int) -> dict[str, Any]:
    """Fetch-to-reply latency of `mentions` mentions, one poll cycle each, and the resident
    memory of a `python -m bot run` process after it answered one."""
    try:
        from mastodon import Mastodon
        from mastodon_mock.config import SeedAccount, SeedConfig
        from mastodon_mock.testing import MockServer
    except ImportError:
        raise UserError("the server benchmark needs mastodon-mock: pip install -e '.[dev]' "
                        "(or run it with --no-server)") from None

    users = [f"user{i}" for i in range(users_n)]
    seed = SeedConfig(accounts=[SeedAccount(username="bot", access_token="bot_token"),
                                *[SeedAccount(username=u, access_token=f"{u}_token")
                                  for u in users]])
    with MockServer(seed=seed) as srv, tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            platform="mastodon", weights_dir=weights, state_path=Path(tmp) / "s.db",
            mastodon={"base_url": srv.base_url, "access_token": "bot_token",
                      "media_per_30min": mentions + 1},
            user_limit_per_hour=0, daily_post_enabled=False)
        artist = Artist(settings.weights_dir, settings.seeds_file, ArtistOptions())
        clock = Clock()
        service = Service(settings, MastodonPlatform(settings.mastodon), artist,
                          State(settings.state_path), clock)
        service.start()
        clients = {u: Mastodon(access_token=f"{u}_token", api_base_url=srv.base_url,
                               version_check_mode="none") for u in users}
        for i in range(mentions):  # one at a time: latency without queueing
            clients[users[i % len(users)]].status_post(f"@bot create a human image {i}")
            service.cycle()
        lat = sorted(service.stats.latencies)
        if len(lat) != mentions:
            raise UserError(f"only {len(lat)} of {mentions} mentions were answered")
        latency = {"median_ms": statistics.median(lat) * 1000,
                   "p90_ms": lat[int(len(lat) * 0.9) - 1] * 1000, "max_ms": lat[-1] * 1000}
        print(f"{mentions} mentions, each fetched and answered by one poll cycle")
        print(f"fetch-to-reply latency: median {latency['median_ms']:.0f} ms, "
              f"p90 {latency['p90_ms']:.0f} ms, max {latency['max_ms']:.0f} ms")
        rss = service_rss(srv.base_url, weights, Path(tmp), clients[users[0]])
        print(f"resident memory of python -m bot run after answering: {rss:.0f} MiB")
    return {"mentions": mentions, "fetch_to_reply_ms": latency, "rss_mib": rss}


# ---------------------------------------------------------------- CLI


def check_targets(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The serving targets against this run's figures; a part not run is not measured."""
    reply = r.get("reply_image_ms")
    guarded = next((v for k, v in r.items() if k.startswith("reply_image_best_of_")), None)
    return judge({"reply_p50_ms": reply["p50_ms"] if reply else None,
                  "reply_guard_p50_ms": guarded["p50_ms"] if guarded else None,
                  "startup_s": r.get("bot_startup_to_first_poll_s")}, TARGETS)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="few repeats, for CI")
    ap.add_argument("--mentions", type=int, default=50)
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--weights", type=Path, default=REPO / "weights")
    ap.add_argument("--repeats", type=int, default=None,
                    help="draws per kind of reply (default 30; 3 with --quick)")
    ap.add_argument("--levers", action="store_true",
                    help="also flip each serving lever on its own, and time the imports the "
                    "local platform's start skips")
    ap.add_argument("--drawing-only", action="store_true",
                    help="only the drawing costs: no server, no start-up")
    ap.add_argument("--no-server", action="store_true",
                    help="everything but the mastodon-mock round trips and memory")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else 3 if args.quick else 30
    if args.mentions < 1 or repeats < 1:
        raise UserError("--mentions and --repeats must be at least 1")
    reply_repeats = 10 if args.quick else 200

    seeds = args.weights / "seeds.json"
    artist = Artist(args.weights, seeds, ArtistOptions())  # as the service builds it
    machine = machine_description(artist.sampler.device, capability=True)
    r: dict[str, Any] = {"device": str(artist.sampler.device), "machine": machine,
                         "torch": torch.__version__, "quick": args.quick}
    print(f"{machine}, torch {torch.__version__}"
          f"{' (quick mode: not for quoting)' if args.quick else ''}")

    reply = bench_reply(Artist(args.weights, seeds, ArtistOptions(best_of=1)), reply_repeats)
    r["reply_image_ms"] = reply
    print(f"one reply image (seed + noise, G, 4x Lanczos, PNG): p50 {reply['p50_ms']:.1f} ms, "
          f"p95 {reply['p95_ms']:.1f} ms")
    if artist.guard is not None:
        guarded = bench_reply(artist, reply_repeats)
        r[f"reply_image_best_of_{artist.options.best_of}_ms"] = guarded
        print(f"one reply image with the guard (best of {artist.options.best_of} by D): "
              f"p50 {guarded['p50_ms']:.1f} ms, p95 {guarded['p95_ms']:.1f} ms")
    r["drawing_costs"] = drawing_costs(artist, repeats)
    print_drawing_costs(r["drawing_costs"])

    if not args.drawing_only:
        startup = bench_bot_startup(args.weights)
        r["bot_startup_to_first_poll_s"] = startup
        shown = f"{startup:.2f} s" if startup is not None else "no first poll logged"
        print(f"python -m bot start-up to first poll: {shown}")

    if args.levers:
        print("serving levers, each flipped on its own (against the reply image above):")
        r["serving_levers"] = serving_levers(args.weights, seeds, reply_repeats)
        if not args.drawing_only:
            r["lazy_imports_s"] = lazy_import_savings()
            print("  imports the local platform's start skips: " + ", ".join(
                f"{k.split('.')[0]} {v:.2f} s" for k, v in r["lazy_imports_s"].items()))

    if not (args.drawing_only or args.no_server):
        r["server"] = bench_server(args.weights, args.mentions, args.users)

    return finish(r, check_targets(r), args.json)


if __name__ == "__main__":
    run_cli(main)
