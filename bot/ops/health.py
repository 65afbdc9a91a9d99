"""Health: /healthz and /metrics on loopback, and whether the metrics port can be listened on.

With BOT_METRICS_PORT set, a small HTTP server on loopback answers
    /healthz   200 "ok" when the poll loop ran within three intervals, the state file is
               writable and the platform answers; 503 with the reason otherwise (the
               platform failing: since when, and what it said)
    /metrics   the Prometheus text format (prometheus-client)
The port is bound before the bot loads anything: one in use is one line (PortUnusable), exit
78, not a traceback and a restart loop; python -m bot check reports it too, unless the program
holding it is the running bot itself (its /healthz is shown instead).
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.ops.metrics import Metrics
from bot.state.errors import unwritable_reason

# ---------------------------------------------------------------- metrics


# ---------------------------------------------------------------- health


def health(last_poll: float, poll_seconds: float, state_path: Path,
           now: Callable[[], float] = time.time, problem: str | None = None
           ) -> tuple[bool, str]:
    """Healthy while the loop polls and the state file takes writes. Waiting for the media
    budget is healthy: the loop still polls meanwhile."""
    if problem:
        return False, problem
    if last_poll <= 0:
        return False, "the poll loop has not completed a poll yet"
    age = now() - last_poll
    if age > 3 * poll_seconds:
        return False, f"last successful poll {age:.0f}s ago (more than 3 x {poll_seconds:g}s)"
    reason = unwritable_reason(state_path)
    if reason:
        return False, reason
    return True, "ok"


class PortUnusable(Exception):
    """BOT_METRICS_PORT cannot be listened on: a configuration problem, one line."""


def port_problem(host: str, port: int, exc: OSError) -> str:
    """One line for an OSError of binding (host, port): what is wrong and what to do."""
    if exc.errno == errno.EADDRINUSE:
        return (f"BOT_METRICS_PORT {port} on {host} is already in use (another bot, or another "
                "program); stop that, or choose another BOT_METRICS_PORT")
    if exc.errno == errno.EACCES:
        return (f"BOT_METRICS_PORT {port} needs privileges (ports below 1024); choose one "
                "from 1024 to 65535")
    return (f"BOT_METRICS_PORT {port} on {host} cannot be listened on ({exc.strerror or exc}); "
            "choose another BOT_METRICS_PORT")


def busy_with_a_bot(port: int, host: str = "127.0.0.1") -> str | None:
    """When a bot's own health server holds the port (python -m bot check beside the running
    service, as in docker compose exec): what its /healthz says; else None."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=3) as reply:
            if b"bot_mentions_total" not in reply.read(1 << 20):
                return None
    except (OSError, ValueError):
        return None
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=3) as reply:
            return reply.read(200).decode("utf-8", "replace").strip()
    except urllib.error.HTTPError as exc:  # 503: the running bot is unwell, and says why
        return exc.read(200).decode("utf-8", "replace").strip()
    except OSError:
        return None


def check_port(port: int, host: str = "127.0.0.1") -> str | None:
    """For python -m bot check: None when the metrics port can be listened on now, or is held
    by a running bot (its health is logged); else the one-line problem."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            # as http.server binds (allow_reuse_address): a port in TIME_WAIT is not busy
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        health_now = busy_with_a_bot(port, host) if exc.errno == errno.EADDRINUSE else None
        if health_now is None:
            return port_problem(host, port, exc)
        logging.getLogger("bot.observe").info(
            "BOT_METRICS_PORT %d is held by a running bot; its /healthz says: %s", port,
            health_now)
    return None


class ObserveServer:
    """/healthz and /metrics on a loopback port, in a daemon thread."""

    def __init__(self, metrics: Metrics, last_poll: Callable[[], float], poll_seconds: float,
                 state_path: Path, port: int, host: str = "127.0.0.1",
                 problem: Callable[[], str | None] = lambda: None):
        observer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._send(200, metrics.render(), CONTENT_TYPE_LATEST)
                elif self.path == "/healthz":
                    ok, reason = health(last_poll(), poll_seconds, state_path,
                                        problem=problem())
                    self._send(200 if ok else 503, (reason + "\n").encode(), "text/plain")
                else:
                    self._send(404, b"not found: try /healthz or /metrics\n", "text/plain")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # scrapes are not events
                pass

        try:
            self.server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise PortUnusable(port_problem(host, port, exc)) from None
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="observe",
                                        daemon=True)
        self.observer = observer

    def start(self) -> ObserveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever: only once started
            self.server.shutdown()
        self.server.server_close()
