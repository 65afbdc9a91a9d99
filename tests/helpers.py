"""Test helpers shared by several test modules (not tests themselves)."""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import requests

from bot.cli.run import _install_signals
from bot.platforms.base import Mention
from bot.service import Clock, Service
from model.nets.config import GANConfig

# The small real generator most tests serve (conftest's tiny_weights exports one)
TINY = GANConfig(z_dim=8, image_size=32, g_width=8, d_width=8)


def mention(i: int, author: str = "alice") -> Mention:
    """A plain request from `author`, id i, paging position 1000 + i."""
    return Mention(id=str(i), author=author, author_id=author, author_is_bot=False,
                   author_bio="", text="create a human image", is_html=False,
                   visibility="public", created_at=datetime(2026, 11, 1, tzinfo=UTC),
                   cursor=str(1000 + i))


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
    from bot.cli.parts import make_artist
    from bot.config import load_settings
    from bot.platforms.mastodon import MastodonPlatform
    from bot.service import Service
    from bot.state.store import State

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


# ---------------------------------------------------------------- a proxy that holds answers


class HoldingProxy:
    """Forwards HTTP to upstream; while `hold` is set, a status POST's answer is held back
    (after upstream stored the status) and `committed` is signalled instead."""

    def __init__(self, upstream: str):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.upstream = upstream
        self.hold = threading.Event()
        self.down = threading.Event()  # drop every connection: the server is gone
        self.committed: queue.Queue = queue.Queue()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                if proxy.down.is_set():
                    self.close_connection = True
                    self.connection.shutdown(2)  # no answer at all
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "connection")}
                upstream = requests.request(self.command, proxy.upstream + self.path,
                                            headers=headers, data=body, timeout=60)
                if (self.command == "POST" and self.path.startswith("/api/v1/statuses")
                        and proxy.hold.is_set()):
                    proxy.committed.put(upstream.json().get("id"))
                    threading.Event().wait(30)  # never answered: the bot is killed meanwhile
                    return
                payload = upstream.content
                self.send_response(upstream.status_code)
                for k, v in upstream.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection",
                                         "content-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a killed bot leaves broken pipes behind: expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def reply_through(platform, mention: Mention, text: str, media: list, looks=None):
    """Upload, ask about the processing until the media is ready, then reply: what the service
    does over several turns of its loop, in one go. `looks` gets each wait the platform asked
    for before a look (never slept here)."""
    uploaded = platform.upload(media)
    for _ in range(100):
        if uploaded.ready:
            return platform.reply(mention, text, uploaded)
        if looks is not None:
            looks.append(uploaded.check_in)
        uploaded = platform.processed(uploaded)
    raise AssertionError(f"media {uploaded.waiting} never processed")


def run_with_signals(service: Service, on_wait: Callable[[int], None]) -> None:
    """service.run() with the real signal handlers installed (restored afterwards)."""
    service.clock.on_wait = on_wait  # type: ignore[attr-defined]
    old = {s: signal.getsignal(s) for s in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)}
    try:
        _install_signals(service)
        service.run()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def fastgan_config(size: int, **kw):  # type: ignore[no-untyped-def]
    """A small FastGAN-family GANConfig for tests (widths 8, z 16)."""
    from model.nets.config import GANConfig

    return GANConfig(**{"arch": "fastgan", "image_size": size, "g_width": 8, "d_width": 8,
                        "z_dim": 16, **kw})
