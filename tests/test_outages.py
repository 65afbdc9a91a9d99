"""A platform that fails for minutes or hours: the mentions wait and are answered once it is
back, politely (few requests during the outage), and /healthz and the metrics say it fails.

Against a real Mastodon API on loopback (mastodon-mock, faults injected with its control
plane), with Mastodon 4.3's default notification policy on the bot. A fake clock moves time
(`Service.run` waits on it), so hours of outage take seconds; every HTTP request the bot makes
goes through a real session that notes it (method, path, status, time) on its way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

pytest.importorskip("mastodon_mock")
from mastodon import Mastodon
from mastodon_mock.config import SeedAccount, SeedConfig

from bot.ops.health import health
from bot.service import Service
from bot.service.retry import BACKOFF_CAP
from model.serve.seeds import Seed, SeedBook, save_seeds
from tests.helpers import TINY, FakeClock, client, fault, mastodon_service, replies_to

SEED = SeedConfig(accounts=[SeedAccount(username=u, access_token=f"{u}_token")
                            for u in ("bot", "alice", "bob")])
UPLOADS = r"^/api/v[12]/media$"
POLL = "/api/v1/notifications"


class Noted(HTTPAdapter):
    """Sends every request as usual and notes (method, path, status, clock offset) of each."""

    def __init__(self, now: Callable[[], float]) -> None:
        super().__init__()
        self.now = now
        self.seen: list[tuple[str, str, int, float]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = super().send(request, **kwargs)
        path = (request.path_url or "").split("?")[0]
        self.seen.append((request.method or "", path, response.status_code, self.now()))
        return response


@pytest.fixture
def weights(tmp_path: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, [Seed(7, [0.3] * TINY.z_dim)]))
    return tiny_weights


def noted_service(srv, weights: Path, tmp_path: Path, clock: FakeClock,  # type: ignore[no-untyped-def]
                  **overrides: Any) -> tuple[Service, Noted]:
    adapter = Noted(lambda: clock.offset)
    session = requests.Session()
    session.mount("http://", adapter)
    bot = Mastodon(access_token="bot_token", api_base_url=srv.base_url, session=session,
                   version_check_mode="none", ratelimit_method="throw")
    return mastodon_service(srv, weights, tmp_path / "state.db", clock, bot,
                            **overrides), adapter


def clear_faults(srv) -> None:  # type: ignore[no-untyped-def]
    requests.delete(srv.base_url + "/api/v1/_mock/faults", timeout=10).raise_for_status()


class Outage:
    """Runs the service on its fake clock through an outage from `start` to `end` seconds:
    `begin()` injects the fault; `during(offset)` runs at each wait within it; the run stops
    once `done()` holds (or after far too many waits). Health and the failing gauge are noted
    at every wait."""

    def __init__(self, srv: Any, service: Service, clock: FakeClock, end: float,
                 begin: Callable[[], None], done: Callable[[], bool],
                 during: Callable[[float], None] = lambda offset: None) -> None:
        self.srv, self.service, self.clock, self.end = srv, service, clock, end
        self.begin, self.done, self.during = begin, done, during
        self.health: list[tuple[float, bool, str]] = []
        self.gauge: list[tuple[float, float]] = []
        self.over_at: float | None = None

    def run(self) -> None:
        self.begin()
        self.clock.on_wait = self._on_wait
        self.service.run()

    def _on_wait(self, n: int) -> None:
        service, offset = self.service, self.clock.offset
        ok, why = health(service.stats.last_poll, service.settings.poll_seconds,
                         service.settings.state_path, now=self.clock.now,
                         problem=service.problem)
        self.health.append((offset, ok, why))
        self.gauge.append((offset, service.metrics.platform_failing._value.get()))
        if self.over_at is None and offset >= self.end:
            clear_faults(self.srv)
            self.over_at = offset
        elif self.over_at is None:
            self.during(offset)
        if (self.over_at is not None and self.done()) or n > 5000:
            service.request_stop()


def answered(srv, *statuses: dict[str, Any]) -> Callable[[], bool]:  # type: ignore[no-untyped-def]
    return lambda: all(len(replies_to(srv, s["id"])) == 1 for s in statuses)


def test_a_three_minute_upload_outage_costs_few_requests_and_both_mentions_are_answered(
        srv, weights: Path, tmp_path: Path) -> None:
    """Media uploads answer 503 for three minutes (the issue's case): alice asked before, bob
    during. Neither is given up; both are answered once the server is back; the outage costs
    at most about 30 requests, the regular polls included; /healthz and the metrics say the
    platform fails meanwhile, and are well again after."""
    alice = client(srv, "alice").status_post("@bot create a human image")
    clock = FakeClock()
    service, noted = noted_service(srv, weights, tmp_path, clock)
    start = clock.offset
    asked: list[dict[str, Any]] = []

    def bob_asks_during(offset: float) -> None:
        if offset >= 60 and not asked:
            asked.append(client(srv, "bob").status_post("@bot create a human image"))

    outage = Outage(srv, service, clock, start + 180, done=lambda: bool(asked) and answered(
        srv, alice, asked[0])(), during=bob_asks_during, begin=lambda: fault(
        srv, match={"methods": ["POST"], "path_regex": UPLOADS},
        effect={"type": "status", "status": 503}, count=100_000))
    before = len(noted.seen)  # signed in
    outage.run()

    assert len(replies_to(srv, alice["id"])) == 1 and len(replies_to(srv, asked[0]["id"])) == 1
    assert service.state.counts("mastodon") == {"replied": 2}
    assert outage.over_at is not None
    during = [r for r in noted.seen[before:] if r[3] < outage.over_at]
    failed = [r for r in during if r[2] == 503]
    polls = [r for r in during if r[1] == POLL]
    print(f"3-minute upload outage: {len(during)} requests ({len(polls)} polls), "
          f"{len(failed)} failed")
    assert 3 <= len(failed) <= 10 and len(during) <= 30, during
    replied_at = max(r[3] for r in noted.seen if r[1] == "/api/v1/statuses" and r[2] == 200)
    assert replied_at - outage.over_at <= BACKOFF_CAP  # answered soon after the server is back
    failing = [(o, why) for o, ok, why in outage.health if not ok]
    assert failing and all("mastodon is failing since" in why and "503" in why
                           for _, why in failing), failing
    assert all(ok for o, ok, _ in outage.health if o > replied_at)
    assert any(v == 1 for o, v in outage.gauge if o < outage.over_at)
    assert outage.gauge[-1][1] == 0
    errors = service.metrics.platform_errors.labels("transient")._value.get()
    assert errors == len(failed)


def test_a_two_hour_outage_of_the_whole_server_costs_few_requests_and_loses_nothing(
        srv, weights: Path, tmp_path: Path) -> None:
    """Every request answers 503 for two hours, right after the first poll has read alice's
    mention: the polls and the look for an earlier reply fail too. bob's mention reaches the
    server during the outage (the fault is lifted for his post only, between two of the bot's
    requests). At most about 60 requests in the two hours, polls included; both answered once
    it is back, none given up."""
    alice = client(srv, "alice").status_post("@bot create a human image")
    clock = FakeClock()
    service, noted = noted_service(srv, weights, tmp_path, clock)
    start = clock.offset
    everything = {"effect": {"type": "status", "status": 503}, "count": 100_000}
    asked: list[dict[str, Any]] = []

    def first_poll_then_everything_fails() -> None:
        fault(srv, match={"methods": ["GET"], "path": POLL}, effect={"type": "latency"},
              count=2)  # its two pages pass: the first rule a request meets lets them through
        fault(srv, **everything)

    def bob_asks_during(offset: float) -> None:
        if offset >= 1800 and not asked:
            clear_faults(srv)
            asked.append(client(srv, "bob").status_post("@bot create a human image"))
            fault(srv, **everything)

    outage = Outage(srv, service, clock, start + 7200, done=lambda: bool(asked) and answered(
        srv, alice, asked[0])(), during=bob_asks_during, begin=first_poll_then_everything_fails)
    before = len(noted.seen)
    outage.run()

    assert len(replies_to(srv, alice["id"])) == 1 and len(replies_to(srv, asked[0]["id"])) == 1
    assert service.state.counts("mastodon") == {"replied": 2}
    seen = [r for r in noted.seen[before:] if r[3] < outage.over_at]
    first_poll, during = seen[:2], seen[2:]
    assert [(r[1], r[2]) for r in first_poll] == [(POLL, 200)] * 2
    polls = [r for r in during if r[1] == POLL]
    print(f"2-hour outage of every request: {len(during)} requests ({len(polls)} polls, "
          f"{len(during) - len(polls)} for alice's mention), "
          f"{sum(r[2] == 503 for r in during)} failed")
    assert all(r[2] == 503 for r in during) and len(polls) < len(during)
    assert len(during) <= 60, during
    assert max(o for o, ok, _ in outage.health if not ok) >= start + 7200 - BACKOFF_CAP
    assert outage.gauge[-1][1] == 0


def test_media_the_server_refuses_settles_at_once_without_holding_up_the_others(
        srv, weights: Path, tmp_path: Path) -> None:
    """A permanent error (422: the server will never take this file) is no outage: that
    mention fails after its one upload, the next one is answered in the same cycle, and the
    platform is not marked failing."""
    first = client(srv, "alice").status_post("@bot create a human image")
    second = client(srv, "bob").status_post("@bot create a human image")
    fault(srv, match={"methods": ["POST"], "path_regex": UPLOADS},
          effect={"type": "status", "status": 422,
                  "body": {"error": "Validation failed: File content type is invalid"}},
          count=1)
    clock = FakeClock()
    service, noted = noted_service(srv, weights, tmp_path, clock)
    service.cycle()
    assert service.state.get("mastodon", str(first["id"])).status == "failed"
    assert "content type is invalid" in service.state.get("mastodon", str(first["id"])).reason
    assert len(replies_to(srv, second["id"])) == 1
    assert sum(1 for r in noted.seen if r[2] == 422) == 1
    assert service.failing is None and service.problem is None
    assert service.metrics.platform_errors.labels("rejected")._value.get() == 1
