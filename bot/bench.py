"""Reply latency and memory of the bot against mastodon-mock (a real Mastodon API on loopback).

    python -m bot.bench                  # 50 mentions from 10 users, the shipped weights
    python -m bot.bench --mentions 200 --weights runs/emoji

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
from pathlib import Path

from bot.artist import Artist, ArtistOptions
from bot.config import REPO, load_settings
from bot.platforms.mastodon import MastodonPlatform
from bot.service import Clock, Service
from bot.state import State
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mentions", type=int, default=50)
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--weights", type=Path, default=REPO / "weights")
    args = ap.parse_args(argv)
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
