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
import json
import logging
import signal
import sqlite3
import sys
import threading
from pathlib import Path
from typing import NoReturn

from bot.artist import Artist, ArtistOptions
from bot.config import Settings, SettingsError, load_settings
from bot.observe import Metrics, ObserveServer, setup_logging
from bot.platforms.base import Platform
from bot.service import Clock, Fatal, Service, Unavailable
from bot.state import State, StateError
from model.checkpoint import atomic_write
from model.errors import UserError

log = logging.getLogger("bot")

# sysexits.h. Only 78 keeps systemd from restarting (RestartPreventExitStatus): it is given
# for configuration found bad before the loop starts, never for an error while running.
EXIT_UNEXPECTED = 1  # a bug or an answer nobody foresaw: logged with its traceback; restart
EXIT_USAGE = 64  # EX_USAGE: the command line is wrong (an unknown seed id, a bad --out)
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: once/post/check could not reach the server
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL: try again later (the state file is locked or the disk full)
EXIT_CONFIG = 78  # EX_CONFIG: settings, credentials, weights or seeds are bad
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


class ConfigProblem(Exception):
    """Found bad before the loop starts: weights, seeds or the state file."""


class UsageProblem(Exception):
    """The command line asks for something that cannot be: exit 64."""


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own exit status is 2
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


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
    """The generator and seeds (UserError, ValueError or OSError when they cannot be used)."""
    return Artist(settings.weights_dir, settings.seeds_file, ArtistOptions(
        sigma=settings.sigma, preserve_norm=settings.preserve_norm, upscale=settings.upscale,
        resample=settings.resample, device=settings.device, best_of=settings.best_of,
        variation_sigma=settings.variation_sigma))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = ArgumentParser(prog="python -m bot", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command")
    sub.add_parser("run", help="poll and reply until stopped (default)")
    sub.add_parser("once", help="one poll cycle, then exit")
    sub.add_parser("post", help="make today's daily post now")
    gen = sub.add_parser("generate", help="draw one picture to a file")
    gen.add_argument("--out", type=Path, required=True,
                     help="a file (.png, .jpg, .webp) or an existing folder")
    gen.add_argument("--n", type=int, default=1,
                     help="draw N replies as the bot sends them into the folder --out, with "
                          "replies.json (request id, seed, alt text of each)")
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
    except (Fatal, ConfigProblem) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except UsageProblem as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Unavailable as exc:
        print(f"error: cannot reach {settings.platform} at {_server(settings)}: {exc}",
              file=sys.stderr)
        return EXIT_UNAVAILABLE
    except sqlite3.Error as exc:
        print(f"error: state file {settings.state_path} cannot be used ({exc}); free disk "
              "space or stop the other process using it, then run again", file=sys.stderr)
        return EXIT_TEMPFAIL
    except Exception as exc:
        log.exception("stopped by an unexpected error")
        print(f"error: stopped by an unexpected error ({exc!r}); the traceback is in the log",
              file=sys.stderr)
        return EXIT_UNEXPECTED


def _server(settings: Settings) -> str:
    if settings.platform == "mastodon":
        return settings.mastodon.base_url
    if settings.platform == "twitter":
        return settings.twitter.api_base
    return str(settings.local.inbox)


def load_artist(settings: Settings) -> Artist:
    try:
        return make_artist(settings)
    except (UserError, ValueError, OSError) as exc:
        raise ConfigProblem(str(exc)) from None


def open_state(settings: Settings, clock: Clock | None = None) -> State:
    try:
        return State(settings.state_path, clock=clock.now) if clock else State(
            settings.state_path)
    except StateError as exc:
        raise ConfigProblem(str(exc)) from None


def output_path(out: Path, request_id: str) -> tuple[Path, str]:
    """Where `generate` writes and in which format: a folder gets human-<id>.png; a file's
    suffix picks the format; a missing folder is refused rather than created."""
    if out.is_dir():
        return out / f"human-{request_id}.png", "PNG"
    fmt = IMAGE_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise UsageProblem(f"--out {out}: unknown image type {out.suffix or '(none)'!r}; use "
                           f"{', '.join(IMAGE_FORMATS)} or an existing folder")
    if not out.parent.is_dir():
        raise UsageProblem(f"--out {out}: the folder {out.parent} does not exist; create it "
                           "first")
    return out, fmt


def generate(args: argparse.Namespace, settings: Settings) -> int:
    import secrets

    request_id = args.request_id or secrets.token_hex(8)
    if args.n < 1:
        raise UsageProblem(f"--n must be at least 1, got {args.n}")
    if args.n > 1 and not args.out.is_dir():
        raise UsageProblem(f"--out {args.out}: with --n {args.n} it must be an existing folder; "
                           "create it first")
    if args.n == 1:
        out, fmt = output_path(args.out, request_id)
        drawing = _draw(load_artist(settings), request_id, args.seed_id)
        _write_picture(out, fmt, drawing.data)
        print(f"wrote {out} ({drawing.size}x{drawing.size}): {drawing.alt_text}")
        return 0
    artist = load_artist(settings)
    index = []
    for i in range(args.n):  # each one is a reply: its own request id, seed, guard, upscale
        rid = f"{request_id}-{i:04d}"
        drawing = _draw(artist, rid, args.seed_id)
        _write_picture(args.out / f"human-{rid}.png", "PNG", drawing.data)
        index.append({"file": f"human-{rid}.png", "request_id": rid,
                      "seed_id": drawing.seed_id, "alt_text": drawing.alt_text})
    from model.checkpoint import atomic_write_text

    atomic_write_text(args.out / "replies.json", json.dumps(index, indent=1) + "\n")
    print(f"wrote {args.n} replies ({drawing.size}x{drawing.size}) and replies.json into "
          f"{args.out}")
    return 0


def _draw(artist: Artist, request_id: str, seed_id: int | None):
    try:
        return artist.draw(request_id, seed_id)
    except ValueError as exc:  # an unknown seed id
        raise UsageProblem(str(exc)) from None


def _write_picture(out: Path, fmt: str, png: bytes) -> None:
    import io

    from PIL import Image

    data = png
    if fmt != "PNG":
        buf = io.BytesIO()
        Image.open(io.BytesIO(png)).convert("RGB").save(buf, fmt, quality=95)
        data = buf.getvalue()
    atomic_write(out, lambda tmp: tmp.write_bytes(data))


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "generate":
        return generate(args, settings)

    if settings.platform == "local" and not _any_bot_setting():
        log.info("no BOT_* settings found: running the local platform (mentions on stdin "
                 "or in %s, replies in %s)", settings.local.inbox, settings.local.outbox)
    for line in settings.summary().splitlines():
        log.info("%s", line)
    clock = Clock()
    platform = make_platform(settings, clock.wake)
    # Weights, seeds and the state file before the network: a bad file is a configuration
    # problem (78) whether or not the server answers.
    artist = load_artist(settings)
    state = open_state(settings, clock)
    metrics = Metrics()
    service = Service(settings, platform, artist, state, clock, metrics=metrics,
                      load_artist=lambda: make_artist(settings))
    observer = None
    if settings.metrics_port and args.command == "run":
        observer = ObserveServer(metrics, lambda: service.stats.last_poll,
                                 settings.poll_seconds, settings.state_path,
                                 settings.metrics_port, problem=lambda: service.problem).start()
        log.info("health and metrics on http://127.0.0.1:%d/healthz and /metrics",
                 observer.port)
    try:
        if args.command == "check":
            me = service.start()
            print(f"ok: {settings.platform} as @{me.handle}; weights, seeds and state usable")
        elif args.command == "once":
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
        if args.command != "run":
            platform.stop()
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
