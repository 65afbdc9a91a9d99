"""python -m bot [run|once|post|generate|check]

    python -m bot                      # run: poll and reply until stopped (the default)
    python -m bot once                 # one poll cycle, then exit (for cron)
    python -m bot post                 # make today's daily post now
    python -m bot generate --out x.png [--seed-id N] [--request-id ID]
    python -m bot check                # validate settings and credentials, print a summary

Settings come from BOT_* environment variables, a .env file and a secrets directory; with none
at all the bot runs on the local platform (stdin and local/inbox -> local/outbox).
main() only wires: settings -> platform, artist, state -> service.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sqlite3
import sys
import threading
from pathlib import Path

from bot.artist import Artist, ArtistOptions
from bot.config import Settings, SettingsError, load_settings
from bot.observe import Metrics, ObserveServer, setup_logging
from bot.platforms.base import Platform
from bot.service import Clock, Fatal, Service
from bot.state import State, StateError
from model.errors import UserError

log = logging.getLogger("bot")

EXIT_CONFIG = 78  # EX_CONFIG: systemd's RestartPreventExitStatus keeps it from crash-looping
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL: try again later (the state file is locked or the disk full)


def make_platform(settings: Settings, wake: threading.Event) -> Platform:
    if settings.platform == "mastodon":
        from bot.platforms.mastodon import MastodonPlatform

        return MastodonPlatform(settings.mastodon, wait=lambda s: wake.wait(s))
    if settings.platform == "twitter":
        from bot.platforms.twitter import TwitterPlatform

        return TwitterPlatform(settings.twitter)
    from bot.platforms.local import LocalPlatform

    return LocalPlatform(settings.local, wake=wake)


def make_artist(settings: Settings) -> Artist:
    return Artist(settings.weights_dir, settings.seeds_file, ArtistOptions(
        sigma=settings.sigma, preserve_norm=settings.preserve_norm, upscale=settings.upscale,
        resample=settings.resample, device=settings.device))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bot", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command")
    sub.add_parser("run", help="poll and reply until stopped (default)")
    sub.add_parser("once", help="one poll cycle, then exit")
    sub.add_parser("post", help="make today's daily post now")
    gen = sub.add_parser("generate", help="draw one picture to a file")
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--seed-id", type=int, default=None)
    gen.add_argument("--request-id", default=None, help="the same id gives the same picture")
    sub.add_parser("check", help="validate settings and credentials")
    args = ap.parse_args(argv)
    args.command = args.command or "run"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(settings.log_format, settings.secrets())
    try:
        return dispatch(args, settings)
    except (UserError, StateError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except Fatal as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except sqlite3.Error as exc:
        print(f"error: state file {settings.state_path} cannot be used ({exc}); free disk "
              "space or stop the other process using it, then run again", file=sys.stderr)
        return EXIT_TEMPFAIL


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "generate":
        import secrets

        drawing = make_artist(settings).draw(args.request_id or secrets.token_hex(8),
                                             args.seed_id)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(drawing.png)
        print(f"wrote {args.out} ({drawing.size}x{drawing.size}): {drawing.alt_text}")
        return 0

    if settings.platform == "local" and not _any_bot_setting():
        log.info("no BOT_* settings found: running the local platform (mentions on stdin "
                 "or in %s, replies in %s)", settings.local.inbox, settings.local.outbox)
    for line in settings.summary().splitlines():
        log.info("%s", line)
    clock = Clock()
    platform = make_platform(settings, clock.wake)

    if args.command == "check":
        me = platform.start()
        make_artist(settings)
        State(settings.state_path).close()
        print(f"ok: {settings.platform} as @{me.handle}; weights, seeds and state usable")
        return 0

    artist = make_artist(settings)
    state = State(settings.state_path, clock=clock.now)
    metrics = Metrics()
    service = Service(settings, platform, artist, state, clock, metrics=metrics,
                      load_artist=lambda: make_artist(settings))
    observer = None
    if settings.metrics_port and args.command == "run":
        observer = ObserveServer(metrics, lambda: service.stats.last_poll,
                                 settings.poll_seconds, settings.state_path,
                                 settings.metrics_port).start()
        log.info("health and metrics on http://127.0.0.1:%d/healthz and /metrics",
                 observer.port)
    try:
        if args.command == "once":
            service.start()
            service.cycle()
        elif args.command == "post":
            service.start()
            posted = service.daily_post(force=False)
            print(f"posted {posted}" if posted else "today's post was made already")
        else:
            _install_signals(service)
            service.run()
    finally:
        if observer is not None:
            observer.stop()
        state.close()
    return 0


def _install_signals(service: Service) -> None:
    def stop(signum: int, frame: object) -> None:
        log.info("%s: finishing the reply in flight, then stopping",
                 signal.Signals(signum).name)
        service.request_stop()

    def reload(signum: int, frame: object) -> None:
        log.info("SIGHUP: reloading weights and seeds before the next mention")
        service.request_reload()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)


def _any_bot_setting() -> bool:
    import os

    return any(k.startswith("BOT_") for k in os.environ) or Path(".env").is_file()


if __name__ == "__main__":
    sys.exit(main())
