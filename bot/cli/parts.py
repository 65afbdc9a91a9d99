"""The parts a command is wired from, built from the settings: the platform, the artist, the
state file (and its lock), the health server; each failure as the problem that says its exit.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from bot.cli.exits import ConfigProblem, TryLater
from bot.config import SettingsError, changes, reread
from bot.drawing.artist import Artist, ArtistOptions
from bot.ops.health import ObserveServer, PortUnusable, check_port
from bot.ops.metrics import Metrics
from bot.platforms.base import Platform
from bot.service import Clock, Service
from bot.settings import Settings
from bot.state.errors import StateError
from bot.state.lock import Busy, StateLock, busy_message
from bot.state.store import State
from model.errors import UserError

log = logging.getLogger("bot")

def make_platform(settings: Settings, wake: threading.Event) -> Platform:
    if settings.platform == "mastodon":
        from bot.platforms.mastodon import MastodonPlatform

        return MastodonPlatform(settings.mastodon)
    if settings.platform == "twitter":
        from bot.platforms.twitter import TwitterPlatform

        return TwitterPlatform(settings.twitter)
    from bot.platforms.local import LocalPlatform

    return LocalPlatform(settings.local, wake=wake)


def make_artist(settings: Settings) -> Artist:
    """The generator and seeds (UserError, ValueError or OSError when they cannot be used)."""
    return Artist(settings.weights_dir, settings.seeds_file, ArtistOptions(
        sigma=settings.sigma, preserve_norm=settings.preserve_norm, upscale=settings.upscale,
        resample=settings.resample, device=settings.device, best_of=settings.best_of,
        variation_sigma=settings.variation_sigma))


def reload_artist(service: Service | None) -> Artist:
    """SIGHUP: the settings read again (those a running bot can take: config.RELOADABLE), then
    the weights and seeds with them. Any error changes nothing: Service.reload logs it and
    keeps the settings, weights and seeds in use."""
    assert service is not None
    try:
        settings = reread(service.settings)
    except SettingsError as exc:
        raise ValueError("; ".join(exc.problems)) from None
    artist = make_artist(settings)
    for line in changes(service.settings, settings):
        log.info("reloaded %s", line)
    service.settings = settings
    return artist


def load_artist(settings: Settings) -> Artist:
    try:
        return make_artist(settings)
    except (UserError, ValueError, OSError) as exc:
        raise ConfigProblem(str(exc)) from None


def open_state(settings: Settings, clock: Clock | None = None) -> State:
    try:
        return State(settings.state_path, clock=clock.now) if clock else State(
            settings.state_path)
    except StateError as exc:  # a full disk passes once space is freed: not configuration
        raise (TryLater if exc.transient else ConfigProblem)(str(exc)) from None


def hold_state(settings: Settings, command: str) -> StateLock | None:
    """Say which state file this is (a bot started from another folder would quietly start
    afresh). run, once and post hold it for their lifetime: the lock, to release at the end
    (Busy: another live process has it). check only reads, beside a running bot."""
    path = settings.state_path.absolute()
    if not path.exists():
        log.warning("state file %s does not exist yet: starting afresh with a new one (if the "
                    "bot ran before from another folder, its state file is there: set "
                    "BOT_STATE_PATH to it)", path)
    if command not in ("run", "once", "post"):
        return None
    try:
        return StateLock(path).acquire()
    except Busy as exc:
        raise Busy(busy_message(path, str(exc))) from None
    except OSError:  # a read-only folder: the state file's own checks say why, in one line
        return None


def check_places(settings: Settings, command: str) -> None:
    """What the bot must be able to write or listen on, checked before anything is loaded:
    a ConfigProblem (one line) instead of a traceback at the first reply."""
    if settings.platform == "local":
        problem = local_folders_problem(settings)
        if problem:
            raise ConfigProblem(problem)
    if command == "check" and settings.metrics_port:  # the service would listen there
        problem = check_port(settings.metrics_port)
        if problem:
            raise ConfigProblem(problem)


def local_folders_problem(settings: Settings) -> str | None:
    """The local platform writes replies into its outbox and moves answered files within its
    inbox: in a read-only working directory (compose runs read_only: true) it cannot."""
    inbox, outbox = settings.local.inbox, settings.local.outbox
    for folder in (inbox, outbox):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if os.access(folder, os.W_OK):
                continue
            reason = "read-only"
        except OSError as exc:
            reason = exc.strerror or str(exc)
        return (f"the local platform cannot write its folders {inbox} and {outbox} ({folder}: "
                f"{reason}; working directory {Path.cwd()}); set BOT_PLATFORM to mastodon or "
                "twitter with its credentials, or BOT_LOCAL__INBOX and BOT_LOCAL__OUTBOX to "
                "writable folders")
    return None


def open_observer(settings: Settings, metrics: Metrics,
                  service: Callable[[], Service | None]) -> ObserveServer:
    """/healthz and /metrics, bound now, answering once started (after `service` exists)."""
    assert settings.metrics_port is not None
    try:
        return ObserveServer(metrics, lambda: _service(service).stats.last_poll,
                             settings.poll_seconds, settings.state_path, settings.metrics_port,
                             problem=lambda: _service(service).problem)
    except PortUnusable as exc:
        raise ConfigProblem(str(exc)) from None


def _service(service: Callable[[], Service | None]) -> Service:
    found = service()
    assert found is not None, "the observer answers only once the service is built"
    return found
