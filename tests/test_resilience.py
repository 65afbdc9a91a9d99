"""Kill and restart: the bot is SIGKILLed at awkward moments against a real Mastodon API
(mastodon-mock on loopback) while mentions keep arriving; every triggered mention must end
with exactly one reply on the server, and nothing else may be answered.

The bot talks to the server through a small forwarding proxy on loopback that can hold the
answer to a status POST after the server has stored the status: a kill then lands in the worst
window, where the reply exists but the bot never learnt of it.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("mastodon_mock")
from mastodon import Mastodon
from mastodon_mock.config import SeedAccount, SeedConfig
from mastodon_mock.testing import MockServer

from model.serve.seeds import Seed, SeedBook, save_seeds
from tests.helpers import TINY, HoldingProxy
from tests.secret_audit import record_output

REPO = Path(__file__).resolve().parent.parent
USERS = [f"user{i}" for i in range(6)]


def start_bot(base_url: str, tmp: Path, weights: Path, command: str = "run"
              ) -> tuple[subprocess.Popen, queue.Queue]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", BOT_PLATFORM="mastodon",
               BOT_MASTODON__BASE_URL=base_url, BOT_MASTODON__ACCESS_TOKEN="bot_token",
               BOT_MASTODON__MEDIA_PER_30MIN="1000", BOT_WEIGHTS_DIR=str(weights),
               BOT_STATE_PATH=str(tmp / "state.db"), BOT_POLL_SECONDS="1",
               BOT_USER_LIMIT_PER_HOUR="0", BOT_DAILY_POST_ENABLED="false")
    proc = subprocess.Popen([sys.executable, "-m", "bot", command], cwd=tmp, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in proc.stderr:
            record_output("bot stderr", line)  # the secret audit reads the bot's log too
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def wait_for(lines: queue.Queue, *needles: str) -> str | None:
    """The next log line holding one of the needles (None when the process ended)."""
    while True:
        line = lines.get(timeout=120)
        if line is None or any(n in line for n in needles):
            return line


def run_soak(tmp_path: Path, tiny_weights: Path, kills: int, mentions_per_round: int,
             seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    save_seeds(tiny_weights / "seeds.json",
               SeedBook(TINY.z_dim, [Seed(1, [0.2] * TINY.z_dim)]))
    accounts = SeedConfig(accounts=[SeedAccount(username="bot", access_token="bot_token"),
                                    *[SeedAccount(username=u, access_token=f"{u}_token")
                                      for u in USERS]])
    with MockServer(seed=accounts) as srv:
        clients = {u: Mastodon(access_token=f"{u}_token", api_base_url=srv.base_url,
                               version_check_mode="none") for u in USERS}
        proxy = HoldingProxy(srv.base_url)
        triggered, chatter = [], []

        def post_some() -> None:
            for _ in range(mentions_per_round):
                user = rng.choice(USERS)
                if rng.random() < 0.8:
                    triggered.append(clients[user].status_post("@bot create a human image"))
                else:
                    chatter.append(clients[user].status_post("@bot nice weather"))

        moments = ["committed", "media", "first poll", "replied", "committed", "seen"]
        for k in range(kills):
            post_some()
            moment = moments[k % len(moments)]
            if moment == "committed":
                proxy.hold.set()
            proc, lines = start_bot(proxy.url, tmp_path, tiny_weights)
            if moment == "committed":  # the reply is stored, its answer never arrives
                proxy.committed.get(timeout=120)
            else:
                wait_for(lines, {"media": "uploaded, posting", "replied": ": replied ",
                                 "first poll": "first poll", "seen": " seen"}[moment])
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            proxy.hold.clear()
        post_some()
        proc, lines = start_bot(proxy.url, tmp_path, tiny_weights, command="once")
        assert proc.wait(timeout=300) == 0
        proxy.close()
        bot = Mastodon(access_token="bot_token", api_base_url=srv.base_url,
                       version_check_mode="none")
        counts = {}
        for status in triggered + chatter:
            replies = [s for s in bot.status_context(status["id"])["descendants"]
                       if s["account"]["acct"] == "bot"
                       and str(s["in_reply_to_id"]) == str(status["id"])]
            counts[str(status["id"])] = len(replies)
    duplicates = sum(c > 1 for c in counts.values())
    lost = sum(counts[str(s["id"])] == 0 for s in triggered)
    answered_chatter = sum(counts[str(s["id"])] > 0 for s in chatter)
    return {"mentions": len(triggered) + len(chatter), "triggered": len(triggered),
            "kills": kills, "duplicates": duplicates, "lost": lost,
            "chatter_answered": answered_chatter}


def test_sigkill_at_awkward_moments_loses_and_repeats_nothing(tmp_path: Path,
                                                              tiny_weights: Path) -> None:
    result = run_soak(tmp_path, tiny_weights, kills=8, mentions_per_round=3, seed=1)
    assert result["duplicates"] == 0 and result["lost"] == 0, result
    assert result["chatter_answered"] == 0, result


@pytest.mark.slow
def test_soak_thirty_kills(tmp_path: Path, tiny_weights: Path) -> None:
    result = run_soak(tmp_path, tiny_weights, kills=32, mentions_per_round=4, seed=2)
    print(result)
    assert result["duplicates"] == 0 and result["lost"] == 0, result
    assert result["chatter_answered"] == 0, result
