"""python -m bot [run|once|post|generate|check|kinds]

    python -m bot                      # run: poll and reply until stopped (the default)
    python -m bot once                 # one poll cycle, then exit (for cron)
    python -m bot post                 # make today's daily post now
    python -m bot generate --out x.png [--seed-id N] [--request-id ID]
    python -m bot generate --n 64 --out replies/   # 64 replies as the bot sends them
    python -m bot generate --n 8 --out cooks/ --ask "a cook with dark skin"   # as asked
    python -m bot check                # validate settings and credentials, print a summary
    python -m bot kinds                # every kind of person one can ask for, with its seeds

Settings come from BOT_* environment variables, a .env file and a secrets directory; with none
at all the bot runs on the local platform (stdin and local/inbox -> local/outbox).
main() only wires: settings -> platform, artist, state -> service.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys
from pathlib import Path
from typing import NoReturn

from bot.cli.exits import (
    EXIT_CONFIG,
    EXIT_TEMPFAIL,
    EXIT_UNAVAILABLE,
    EXIT_UNEXPECTED,
    EXIT_USAGE,
    ConfigProblem,
    TryLater,
    UsageProblem,
)
from bot.cli.generate import generate
from bot.cli.kinds import list_kinds
from bot.cli.parts import (
    check_places,
    hold_state,
    load_artist,
    make_platform,
    open_observer,
    open_state,
    reload_artist,
)
from bot.cli.run import run_command
from bot.config import SettingsError, load_settings
from bot.ops.logs import setup_logging
from bot.ops.metrics import Metrics
from bot.service import Clock, Fatal, Service, Unavailable
from bot.settings import Settings
from bot.state.lock import Busy, StateLock

log = logging.getLogger("bot")


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own exit status is 2
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = ArgumentParser(prog="python -m bot", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command")
    sub.add_parser("run", help="poll and reply until stopped (default)")
    sub.add_parser("once", help="one poll cycle, then exit")
    sub.add_parser("post", help="make today's daily post now")
    gen = sub.add_parser("generate", help="draw one picture to a file")
    # a string, not a Path: "newdir/" (a folder to create) must keep its slash
    gen.add_argument("--out", required=True,
                     help="a file (.png, .jpg, .webp) or a folder (created when it ends in /)")
    gen.add_argument("--n", type=int, default=1,
                     help="draw N replies as the bot sends them into the folder --out (made "
                          "if missing), with replies.json (request id, seed, alt text of each)")
    gen.add_argument("--seed-id", type=int, default=None)
    gen.add_argument("--request-id", default=None, help="the same id gives the same picture")
    gen.add_argument("--ask", default=None, metavar="TEXT",
                     help='draw what a mention with this text asks for: its kind and skin '
                          'tone, e.g. "a cook with dark skin" or "🧑🏾‍🍳"')
    sub.add_parser("check", help="validate settings and credentials")
    sub.add_parser("kinds", help="every kind of person one can ask for, with its seeds")
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
    except Busy as exc:  # another bot runs on this state file: try again once it has stopped
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_TEMPFAIL
    except TryLater as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_TEMPFAIL
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


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "generate":
        return generate(args, settings)
    if args.command == "kinds":
        return list_kinds(settings)

    if settings.platform == "local" and not _any_bot_setting():
        log.info("no BOT_* settings found: running the local platform (mentions on stdin "
                 "or in %s, replies in %s)", settings.local.inbox, settings.local.outbox)
    for line in settings.summary().splitlines():
        log.info("%s", line)
    check_places(settings, args.command)
    clock, metrics = Clock(), Metrics()
    service: Service | None = None
    lock: StateLock | None = None
    # The health port is bound before anything else is loaded or read (stdin included): a
    # port in use stops the start at once with one line, nothing read and lost.
    observer = (open_observer(settings, metrics, lambda: service)
                if settings.metrics_port and args.command == "run" else None)
    try:
        # One bot per state file, before anything is loaded (Busy: another live process has it)
        lock = hold_state(settings, args.command)
        platform = make_platform(settings, clock.wake)
        # Weights, seeds and the state file before the network: a bad file is a configuration
        # problem (78) whether or not the server answers.
        artist = load_artist(settings)
        state = open_state(settings, clock)
        service = Service(settings, platform, artist, state, clock, metrics=metrics,
                          load_artist=lambda: reload_artist(service))
        if observer is not None:
            observer.start()
            log.info("health and metrics on http://127.0.0.1:%d/healthz and /metrics",
                     observer.port)
        try:
            return run_command(args.command, service)
        finally:
            state.close()
            if args.command != "run":
                platform.stop()
    finally:
        if lock is not None:
            lock.release()
        if observer is not None:
            observer.stop()


def _any_bot_setting() -> bool:

    return any(k.startswith("BOT_") for k in os.environ) or Path(".env").is_file()


if __name__ == "__main__":
    sys.exit(main())
