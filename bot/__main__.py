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
import json
import logging
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from bot.artist import Artist, ArtistOptions, Drawing
from bot.commands import language, normalise
from bot.config import Settings, SettingsError, changes, load_settings, reread
from bot.kinds import Wish, wish
from bot.lock import Busy, StateLock, busy_message
from bot.observe import Metrics, ObserveServer, PortUnusable, check_port, setup_logging
from bot.platforms.base import Platform
from bot.platforms.errors import RateLimited, Transient
from bot.service import Clock, Fatal, Service, Unavailable
from bot.state import State, StateError
from bot.texts import id_ranges, missing_text
from model.errors import UserError
from model.files import atomic_write

log = logging.getLogger("bot")

# sysexits.h. Only 78 keeps systemd from restarting (RestartPreventExitStatus): it is given
# for configuration found bad before the loop starts, never for an error while running.
EXIT_UNEXPECTED = 1  # a bug or an answer nobody foresaw: logged with its traceback; restart
EXIT_USAGE = 64  # EX_USAGE: the command line is wrong (an unknown seed id, a bad --out)
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: once/post/check could not reach the server
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL: try again later (the state file is locked, held by another
# running bot, or the disk full; post: rate limited, or today's post begun earlier and in doubt)
EXIT_CONFIG = 78  # EX_CONFIG: settings, credentials, weights or seeds are bad
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


class ConfigProblem(Exception):
    """Found bad before the loop starts: weights, seeds, the state file, the local platform's
    folders, the metrics port."""


class UsageProblem(Exception):
    """The command line asks for something that cannot be: exit 64."""


class TryLater(Exception):
    """Nothing is wrong with the settings, but the work cannot be done now (a full disk, the
    platform failing): exit 75, and the next run goes on where this one stopped."""


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own exit status is 2
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


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


def output_path(out: str, request_id: str) -> tuple[Path, str]:
    """Where `generate` writes one picture and in which format: a folder (an existing one, or
    one named with a trailing /, created) gets human-<id>.png; a file's suffix picks the
    format, and its folder is created (as model.sample does)."""
    path = Path(out)
    if path.is_dir() or out.endswith(("/", os.sep)):
        return make_folder(path, out) / f"human-{request_id}.png", "PNG"
    fmt = IMAGE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        what = (f"unknown image type {path.suffix!r}" if path.suffix else
                "no image type, and no such folder")
        raise UsageProblem(f"--out {out}: {what}; name a file ending in "
                           f"{', '.join(IMAGE_FORMATS)}, or a folder (a new one ending in /)")
    make_folder(path.parent, out)
    return path, fmt


def make_folder(folder: Path, out: str) -> Path:
    """The folder --out names or writes into, created when missing; UsageProblem if not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageProblem(f"--out {out}: {folder} is a file, not a folder; name another "
                           "folder") from None
    except OSError as exc:
        raise UsageProblem(f"--out {out}: cannot create the folder {folder} "
                           f"({exc.strerror or exc}); name a writable place") from None
    return folder


def generate(args: argparse.Namespace, settings: Settings) -> int:
    import secrets

    request_id = args.request_id or secrets.token_hex(8)
    if args.n < 1:
        raise UsageProblem(f"--n must be at least 1, got {args.n}")
    if args.n == 1:
        out, fmt = output_path(args.out, request_id)
        artist = load_artist(settings)
        wanted = _wish(artist, args.ask)
        drawing = _draw(artist, request_id, args.seed_id, wanted)
        _write_picture(out, fmt, drawing.data)
        _say_missing(artist, args.ask, wanted, [drawing])
        print(f"wrote {out} ({drawing.size}x{drawing.size}): {drawing.alt_text}")
        return 0
    folder = make_folder(Path(args.out), args.out)  # --n: always a folder, made if missing
    artist = load_artist(settings)
    wanted = _wish(artist, args.ask)
    index, drawings = [], []
    for i in range(args.n):  # each one is a reply: its own request id, seed, guard, upscale
        rid = f"{request_id}-{i:04d}"
        drawing = _draw(artist, rid, args.seed_id, wanted)
        drawings.append(drawing)
        _write_picture(folder / f"human-{rid}.png", "PNG", drawing.data)
        index.append({"file": f"human-{rid}.png", "request_id": rid,
                      "seed_id": drawing.seed_id, "kind": drawing.kind, "tone": drawing.tone,
                      "alt_text": drawing.alt_text})
    from model.files import atomic_write_text

    atomic_write_text(folder / "replies.json", json.dumps(index, indent=1) + "\n")
    _say_missing(artist, args.ask, wanted, drawings)
    print(f"wrote {args.n} replies ({drawing.size}x{drawing.size}) and replies.json into "
          f"{folder}")
    return 0


def _wish(artist: Artist, ask: str | None) -> Wish:
    """--ask: the kind and tone the text names, read as a mention's text is; naming none is
    a mistake worth one line (a typo would otherwise draw anybody)."""
    if ask is None:
        return Wish()
    found = wish(ask, artist.vocabulary)
    if found.kind is None and found.tone is None:
        raise UsageProblem(f"--ask {ask!r} names no kind or skin tone I know; see "
                           "python -m bot kinds")
    return found


def _say_missing(artist: Artist, ask: str | None, wanted: Wish,
                 drawings: list[Drawing]) -> None:
    """--ask a kind or tone no seed has: the sentence a reply would begin with ("I cannot draw
    a zombie yet; I can draw ..."), once, in the language of the text; nothing when drawn."""
    if ask is None:
        return
    lang = language(normalise(ask))
    said = {missing_text(wanted.kind, wanted.tone, d, lang, artist.vocabulary)
            for d in drawings}
    for sentence in sorted(said - {""}):
        print(sentence)


def _draw(artist: Artist, request_id: str, seed_id: int | None, wanted: Wish | None = None):
    try:
        wanted = wanted or Wish()
        return artist.draw(request_id, seed_id, kind=wanted.kind, tone=wanted.tone)
    except ValueError as exc:  # an unknown seed id
        raise UsageProblem(str(exc)) from None


def list_kinds(settings: Settings) -> int:
    """Every kind in the kinds table with its seeds' tones and numbers ("medium-dark #59": what
    "like #59" draws), kinds with seeds first: what an operator can promise people may ask
    for."""
    artist = load_artist(settings)
    by_kind: dict[str, list[tuple[str, int]]] = {}
    unlabelled: list[int] = []
    for seed in artist.seeds.seeds:
        if seed.label is None or not seed.label.kind:
            unlabelled.append(seed.id)
        else:
            by_kind.setdefault(seed.label.kind, []).append((seed.label.tone or "default",
                                                            seed.id))
    vocab = artist.vocabulary
    kinds = sorted(vocab.names, key=lambda k: (-len(by_kind.get(k, [])), vocab.subgroups[k], k))
    kinds += sorted(k for k in by_kind if k not in vocab.names)  # labels the table lacks
    print(f"{'kind':<24} {'subgroup':<16} {'seeds':>5}  tones and seed numbers")
    for kind in kinds:
        seeds = by_kind.get(kind, [])
        tones = sorted({tone for tone, _ in seeds}, key=_tone_order)
        shown = ", ".join(tone + "".join(f" #{i}" for t, i in sorted(seeds) if t == tone)
                          for tone in tones)
        print(f"{kind:<24} {vocab.subgroups.get(kind, '?'):<16} {len(seeds):>5}  {shown}")
    without = f" ({id_ranges(unlabelled)})" if unlabelled else ""
    print(f"{len(vocab.names)} kinds, {len(by_kind)} with seeds; {len(artist.seeds.seeds)} "
          f"seeds in {settings.seeds_file}, {len(unlabelled)} without a kind{without}")
    return 0


def _tone_order(tone: str) -> int:
    order = ("default", "light", "medium-light", "medium", "medium-dark", "dark")
    return order.index(tone) if tone in order else len(order)


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


def run_command(command: str, service: Service) -> int:
    if command == "check":
        me = service.start()
        print(f"ok: {service.name} as @{me.handle}; weights, seeds and state usable")
    elif command == "once":
        service.start()
        service.cycle()
        if service.failing:  # what is pending stays so, for the next run (cron's next turn)
            raise TryLater(f"{service.failing}; the mentions stay pending: run again later")
    elif command == "post":
        service.start()
        return post_today(service)
    else:
        _install_signals(service)
        service.run()
    return 0


def post_today(service: Service) -> int:
    """python -m bot post: today's daily post now. Says what became of it; non-zero when
    today has no post (or may have none)."""
    posted = service.daily_post()
    if posted is not None:
        print(f"posted {posted}")
        return 0
    day, failure = service.today(), service.daily_failure
    if failure is not None:
        print(f"error: {failure.message}", file=sys.stderr)
        if isinstance(failure.error, Transient):
            return EXIT_UNAVAILABLE
        return EXIT_TEMPFAIL if isinstance(failure.error, RateLimited) else EXIT_UNEXPECTED
    claim = service.state.daily(service.name, day)
    if claim is not None and claim["status"] == "posted":
        print(f"today's post ({day}) was made already: {claim['post_id']}")
        return 0
    print(f"error: today's post ({day}) was begun earlier and may have gone out (an attempt "
          "that failed after sending, or one in progress in the running bot); look at the "
          "account: it is not posted twice", file=sys.stderr)
    return EXIT_TEMPFAIL


def _install_signals(service: Service) -> None:
    def stop(signum: int, frame: object) -> None:
        log.info("%s: finishing the reply in flight, then stopping",
                 signal.Signals(signum).name)
        service.request_stop()

    def reload(signum: int, frame: object) -> None:
        log.info("SIGHUP: reloading the settings, weights and seeds before the next mention")
        service.request_reload()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)


def _any_bot_setting() -> bool:
    import os

    return any(k.startswith("BOT_") for k in os.environ) or Path(".env").is_file()


if __name__ == "__main__":
    sys.exit(main())
