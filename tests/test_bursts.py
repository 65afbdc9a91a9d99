"""Bursts against mastodon-mock: many accounts at once, limits, fairness, platform pacing."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

pytest.importorskip("mastodon_mock")
from mastodon import Mastodon
from mastodon_mock.config import SeedAccount, SeedConfig
from mastodon_mock.testing import MockServer

from bot.cli.parts import make_artist
from bot.config import load_settings
from bot.platforms.mastodon import MastodonPlatform
from bot.service import Service
from bot.state.store import State
from tests.helpers import FakeClock


def burst(tmp_path: Path, weights: Path, accounts: int, per_account: int, limit: int,
          media_per_30min: int, monkeypatch: pytest.MonkeyPatch,
          faults: tuple[dict, ...] = ()) -> dict:
    monkeypatch.chdir(tmp_path)
    users = [f"u{i}" for i in range(accounts)]
    seed = SeedConfig(accounts=[SeedAccount(username="bot", access_token="bot_token"),
                                *[SeedAccount(username=u, access_token=f"{u}_token")
                                  for u in users]])
    with MockServer(seed=seed) as srv:
        def post(user: str) -> list:
            c = Mastodon(access_token=f"{user}_token", api_base_url=srv.base_url,
                         version_check_mode="none")
            return [c.status_post(f"@bot create a human image {k}")["id"]
                    for k in range(per_account)]

        with ThreadPoolExecutor(4) as pool:  # they arrive at once, interleaved
            posted = dict(zip(users, pool.map(post, users), strict=True))
        s = load_settings(platform="mastodon", weights_dir=weights, state_path=tmp_path / "s.db",
                          daily_post_enabled=False, user_limit_per_hour=limit,
                          mastodon={"base_url": srv.base_url, "access_token": "bot_token",
                                    "media_per_30min": media_per_30min})
        for rule in faults:  # each applies to the next `count` matching requests
            requests.post(srv.base_url + "/api/v1/_mock/faults", json=rule, timeout=10
                          ).raise_for_status()
        clock = FakeClock()
        svc = Service(s, MastodonPlatform(s.mastodon), make_artist(s),
                      State(s.state_path, clock.now), clock)
        svc.start()
        cycles = 0
        total = accounts * per_account

        def unsettled() -> bool:
            counts = svc.state.counts("mastodon")
            return sum(counts.values()) < total or bool(set(counts) - {"replied", "refused"})

        # While answers fail, one mention tries per backoff and the rest wait behind it: a
        # run of injected faults costs up to one cycle each before the rest go through.
        most = 40 + sum(rule["count"] for rule in faults)
        while cycles < 2 or unsettled():
            svc.cycle()  # without faults, a second poll finds nothing left to do
            clock.t += 900  # past any backoff: the failed ones are due again
            cycles += 1
            assert cycles < most, svc.state.counts("mastodon")
        bot = Mastodon(access_token="bot_token", api_base_url=srv.base_url,
                       version_check_mode="none")
        me = bot.account_verify_credentials()
        statuses, page = [], bot.account_statuses(me["id"], limit=40)
        while page:
            statuses += page
            page = bot.fetch_next(page)
        uploads = svc.state.uploads_since("mastodon", 0)
        counts = svc.state.counts("mastodon")
    statuses.sort(key=lambda st: int(st["id"]))
    by_mention = Counter(str(st["in_reply_to_id"]) for st in statuses)
    owner = {str(i): u for u, ids in posted.items() for i in ids}
    images = [owner[str(st["in_reply_to_id"])] for st in statuses if st["media_attachments"]]
    notes = [owner[str(st["in_reply_to_id"])] for st in statuses if not st["media_attachments"]]
    return {"posted": posted, "by_mention": by_mention, "images": images, "notes": notes,
            "uploads": uploads, "counts": counts, "total": total,
            "retried": svc.stats.retried, "cycles": cycles}


def check_limits(r: dict, accounts: int, limit: int, per_account: int,
                 round_robin: bool = True) -> None:
    assert max(r["by_mention"].values()) == 1  # never two replies to one mention
    assert sum(r["counts"].values()) == r["total"]  # every mention settled: nothing lost
    assert r["counts"] == {"replied": accounts * limit,
                           "refused": accounts * (per_account - limit)}
    assert Counter(r["images"]) == dict.fromkeys(r["posted"], limit)
    assert Counter(r["notes"]) == dict.fromkeys(r["posted"], 1)  # one note, then silence
    if round_robin:  # (a fault delays its victim's turn, so only without faults)
        first_round = r["images"][:accounts]
        assert len(set(first_round)) == accounts  # everyone once before anyone twice


def test_a_burst_is_served_round_robin_within_limits(tmp_path: Path, tiny_weights: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    r = burst(tmp_path, tiny_weights, accounts=12, per_account=5, limit=3,
              media_per_30min=10_000, monkeypatch=monkeypatch)
    check_limits(r, 12, 3, 5)


def test_uploads_never_exceed_the_platform_limit(tmp_path: Path, tiny_weights: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    r = burst(tmp_path, tiny_weights, accounts=25, per_account=1, limit=3,
              media_per_30min=10, monkeypatch=monkeypatch)
    assert r["counts"] == {"replied": 25} and len(r["uploads"]) == 25
    for i, t in enumerate(r["uploads"]):  # every 30-minute window holds at most 10
        assert sum(t <= u < t + 1800 for u in r["uploads"][i:]) <= 10


# Two hundred accounts (a thousand mentions) take about 100 s of HTTP on loopback: the slow
# tier. The default tier sends the same faults into a fifth of the crowd, so they hit a larger
# share of it.
@pytest.mark.parametrize("accounts", [40, pytest.param(200, marks=pytest.mark.slow)])
def test_a_crowd_of_mentions_with_faults_loses_and_repeats_nothing(
        tmp_path: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch, accounts: int) -> None:
    media, statuses = {"methods": ["POST"], "path": "/api/v2/media"}, \
        {"methods": ["POST"], "path": "/api/v1/statuses"}
    faults = ({"match": media, "effect": {"type": "status", "status": 503}, "count": 40},
              {"match": statuses, "effect": {"type": "status", "status": 502}, "count": 20},
              {"match": statuses, "effect": {"type": "malformed"}, "count": 10},
              {"match": {"methods": ["GET"], "path": "/api/v1/notifications"},
               "effect": {"type": "status", "status": 500}, "count": 2})
    r = burst(tmp_path, tiny_weights, accounts=accounts, per_account=5, limit=3,
              media_per_30min=10_000, monkeypatch=monkeypatch, faults=faults)
    check_limits(r, accounts, 3, 5, round_robin=False)
    assert r["retried"] >= 60  # the faults were met, and retried
    print({"mentions": r["total"], "replies": len(r["images"]), "notes": len(r["notes"]),
           "faults injected": sum(f["count"] for f in faults), "retried": r["retried"],
           "cycles": r["cycles"], "duplicates": sum(v > 1 for v in r["by_mention"].values()),
           "lost": r["total"] - sum(r["counts"].values())})
