"""Reply latency and memory of the bot against mastodon-mock (a real Mastodon API on loopback),
and what each kind of reply costs to draw.

    python -m bot.bench                  # 50 mentions from 10 users, the shipped weights
    python -m bot.bench --mentions 200 --weights runs/emoji
    python -m bot.bench --drawing-only   # the drawing costs alone, no server

Drawing costs go through the bot's own Artist, exactly as a reply is drawn, without the network:
one picture (best of 8 by the guard, 256 px PNG), a "more like this" reply (four pictures near
one latent, one batch) and a morph GIF (slerp to another good seed and back), p50 / p95.

Mentions are posted one at a time through the API and each is answered by one poll cycle.
Latency is measured per mention from the moment the poll fetched it to the moment its reply
(image upload + status) was accepted by the server, as the service records it. Memory is the
resident set of a separate `python -m bot run` process after it answered a mention. Needs the
dev extra (mastodon-mock).
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

from bot.artist import Artist, ArtistOptions
from bot.config import REPO, load_settings
from bot.platforms.mastodon import MastodonPlatform
from bot.service import Clock, Service
from bot.state import State
from model.bench import percentiles
from model.errors import UserError, run_cli


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


def drawing_costs(artist: Artist, repeats: int) -> dict[str, dict[str, float]]:
    """p50 / p95 in ms (and bytes) of each kind of reply, drawn as the service draws them."""
    first = artist.draw("bench:warm")
    kinds: dict[str, Callable[[int], list[bytes]]] = {
        "one picture": lambda i: [artist.draw(f"bench:{i}").data],
        "more like this (4 pictures)": lambda i: [
            d.data for d in artist.draw_near(f"bench:v{i}", first.z, 4,
                                             artist.options.variation_sigma, first.seed_id)],
        "morph GIF": lambda i: [artist.morph(f"bench:m{i}", first.z, first.seed_id).data],
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mentions", type=int, default=50)
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--weights", type=Path, default=REPO / "weights")
    ap.add_argument("--repeats", type=int, default=30, help="draws per kind of reply")
    ap.add_argument("--drawing-only", action="store_true",
                    help="only the drawing costs, no server")
    args = ap.parse_args(argv)
    if args.mentions < 1 or args.repeats < 1:
        raise UserError("--mentions and --repeats must be at least 1")
    seeds = args.weights / "seeds.json"
    print_drawing_costs(drawing_costs(Artist(args.weights, seeds, ArtistOptions()),
                                      args.repeats))
    if args.drawing_only:
        return 0
    try:
        from mastodon import Mastodon
        from mastodon_mock.config import SeedAccount, SeedConfig
        from mastodon_mock.testing import MockServer
    except ImportError:
        raise UserError("the benchmark needs mastodon-mock: pip install -e '.[dev]'") from None

    users = [f"user{i}" for i in range(args.users)]
    seed = SeedConfig(accounts=[SeedAccount(username="bot", access_token="bot_token"),
                                *[SeedAccount(username=u, access_token=f"{u}_token")
                                  for u in users]])
    with MockServer(seed=seed) as srv, tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            platform="mastodon", weights_dir=args.weights, state_path=Path(tmp) / "s.db",
            mastodon={"base_url": srv.base_url, "access_token": "bot_token",
                      "media_per_30min": args.mentions + 1},
            user_limit_per_hour=0, daily_post_enabled=False)
        artist = Artist(settings.weights_dir, settings.seeds_file, ArtistOptions())
        clock = Clock()
        service = Service(settings, MastodonPlatform(settings.mastodon), artist,
                          State(settings.state_path), clock)
        service.start()
        clients = {u: Mastodon(access_token=f"{u}_token", api_base_url=srv.base_url,
                               version_check_mode="none") for u in users}
        for i in range(args.mentions):  # one at a time: latency without queueing
            clients[users[i % len(users)]].status_post(f"@bot create a human image {i}")
            service.cycle()
        lat = sorted(service.stats.latencies)
        if len(lat) != args.mentions:
            raise UserError(f"only {len(lat)} of {args.mentions} mentions were answered")
        print(f"{args.mentions} mentions, each fetched and answered by one poll cycle")
        print(f"fetch-to-reply latency: median {statistics.median(lat) * 1000:.0f} ms, "
              f"p90 {lat[int(len(lat) * 0.9) - 1] * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms")
        rss = service_rss(srv.base_url, args.weights, Path(tmp), clients[users[0]])
        print(f"resident memory of python -m bot run after answering: {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    run_cli(main)
