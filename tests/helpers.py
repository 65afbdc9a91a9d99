"""Test helpers shared by several test modules (not tests themselves)."""

from __future__ import annotations

import time

from bot.service import Clock


class FakeClock(Clock):
    """A clock that stands still until a wait moves it forward, so nothing really sleeps.

    `t` is the time now; `offset` how far waits (or the test) moved it from the start;
    `waits` every wait asked for; `on_wait(n)` runs after the n-th wait (a test's hook).
    """

    def __init__(self, start: float | None = None) -> None:
        super().__init__(now=lambda: self.t)
        self.start = time.time() if start is None else start
        self.t = self.start
        self.waits: list[float] = []
        self.on_wait = None

    @property
    def offset(self) -> float:
        return self.t - self.start

    @offset.setter
    def offset(self, value: float) -> None:
        self.t = self.start + value

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.t += max(0.0, seconds)
        if self.on_wait:
            self.on_wait(len(self.waits))
        return False


# ---------------------------------------------------------------- mastodon-mock


def client(srv, user: str):
    """A Mastodon.py client of `user` (token f"{user}_token") on a mastodon-mock server."""
    from mastodon import Mastodon

    return Mastodon(access_token=f"{user}_token", api_base_url=srv.base_url,
                    version_check_mode="none")


def replies_to(srv, status_id) -> list:
    """The bot's replies to a status, read back from the server."""
    return [s for s in client(srv, "bot").status_context(status_id)["descendants"]
            if s["account"]["acct"] == "bot"]


def mastodon_service(srv, weights_dir, state_path, clock: Clock | None = None,
                     mastodon_client=None, **overrides):
    """A started Service on mastodon-mock as the bot, daily post off unless overridden."""
    from bot.__main__ import make_artist
    from bot.config import load_settings
    from bot.platforms.mastodon import MastodonPlatform
    from bot.service import Service
    from bot.state import State

    mastodon = {"base_url": srv.base_url, "access_token": "bot_token",
                **overrides.pop("mastodon", {})}
    overrides.setdefault("daily_post_enabled", False)
    settings = load_settings(platform="mastodon", mastodon=mastodon, weights_dir=weights_dir,
                             state_path=state_path, **overrides)
    clock = clock or FakeClock()
    service = Service(settings, MastodonPlatform(settings.mastodon, client=mastodon_client),
                      make_artist(settings), State(settings.state_path, clock=clock.now),
                      clock)
    service.start()
    return service


def reset_server(srv):
    """Reset mastodon-mock and give the bot's account Mastodon 4.3's default notification
    policy (private mentions from strangers filtered), as a real server has it."""
    import requests

    requests.post(srv.base_url + "/api/v1/_mock/reset", timeout=10).raise_for_status()
    policy = client(srv, "bot").update_notifications_policy(
        for_private_mentions="filter", for_limited_accounts="filter")
    assert policy["for_private_mentions"] == "filter"
    return srv


def fault(srv, **rule) -> None:
    """Inject a fault with mastodon-mock's control plane (applies to the next `count`)."""
    import requests

    requests.post(srv.base_url + "/api/v1/_mock/faults", json=rule, timeout=10
                  ).raise_for_status()
