"""The latent explorer: a page for curating good seeds and seeing what each dimension does.

    python -m model.explore                          # weights/ and weights/seeds.json
    python -m model.explore --weights runs/emoji --seeds runs/emoji/seeds.json --port 8765
    python -m model.explore --state state/bot.sqlite3   # plus the bot's most favourited pictures

The page has sliders for the generator's main directions of change (found in closed form from
its first layer, strongest first: see model/explore/directions.py) above one slider per latent
dimension, random / nudge / reset, a grid of random candidates (click one to load it), "save as
good seed" with a note, the saved seeds with thumbnails and a few sigma-0.5 neighbours as the
bot would draw them (deleting one asks first), and a slerp strip between two seeds that
downloads as a GIF of the same steps. With --state (the bot's SQLite state file, read beside a
running bot), a "popular" panel lists the bot's most favourited pictures with their counts,
each loadable into the sliders and savable as a good seed in one click. Binds to loopback unless
told otherwise, and says so if the port is taken. Writes to the seeds file are atomic
(temporary file, then rename), keep one backup (.bak), and are serialised with a lock on the
seeds file's folder (no lock file is left behind), re-reading the file first, so two browsers
(or two explorers) saving at once lose nothing.

Each seed shows its label (kind, subgroup, skin tone; "unlabelled" for seeds kept before labels),
which the curator can edit in place (the kind field offers the kinds of model/data/kinds.json)
and filter by, with counts per kind and tone; a seed saved from the page can carry one too.
Labels set here have source "explorer".

This module is the command; model/explore/explorer.py is the logic (lists of floats in, PNG/GIF
bytes or data URLs out), model/explore/app.py the web app over it, model/explore/static/ the page.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import socket
from pathlib import Path

from model.errors import UserError, run_cli
from model.explore.explorer import Explorer
from model.explore.popular import state_popular
from model.serve.sampler import Sampler
from model.serve.seeds import SEEDS_FILE

log = logging.getLogger("model.explore")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m model.explore", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path,
                    default=Path(__file__).resolve().parents[2] / "weights")
    ap.add_argument("--seeds", type=Path, default=None, help=f"default WEIGHTS/{SEEDS_FILE}")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--state", type=Path, default=None, metavar="PATH",
                    help="the bot's state file (BOT_STATE_PATH, e.g. state/bot.sqlite3): show "
                    "its most favourited pictures in a popular panel")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        import fastapi  # noqa: F401  (create_app imports it)
        import uvicorn
    except ImportError:
        raise UserError("the explorer needs fastapi and uvicorn: pip install -e .") from None
    from model.explore.app import create_app  # the web app over this module's Explorer
    if not _is_loopback(args.host):
        log.warning("warning: binding to %s makes the explorer (which can edit your seeds "
                    "file) reachable from other machines; it has no login", args.host)
    popular = state_popular(args.state) if args.state is not None else None  # bot/ imported here
    explorer = Explorer(Sampler.load(args.weights, args.device),
                        args.seeds or args.weights / SEEDS_FILE)
    app = create_app(explorer, popular)
    check_port(args.host, args.port)  # before the address is printed: not one that is taken
    print(f"latent explorer on http://{args.host}:{args.port}/ (seeds: {explorer.seeds_path}"
          + (f"; popular from {args.state})" if popular else ")"))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def check_port(host: str, port: int) -> None:
    """Bind (host, port) as uvicorn will, then let go; a UserError if that cannot be done.

    The same socket options as uvicorn's (SO_REUSEADDR), so that a port only lingering in
    TIME_WAIT from the last run is not called busy.
    """
    if not 1 <= port <= 65535:
        raise UserError(f"--port {port} is not a port the page can be opened on; give one "
                        "from 1 to 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} on {host} is already in use (another explorer?); "
                            f"stop that or pick another with --port N") from None
        if exc.errno == errno.EACCES:
            raise UserError(f"not allowed to listen on port {port} (ports below 1024 need "
                            "root); pick another with --port N") from None
        raise UserError(f"cannot listen on {host} port {port}: {exc.strerror or exc}; check "
                        "--host, or pick another port with --port N") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":
    run_cli(main)
