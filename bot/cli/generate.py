"""python -m bot generate: pictures to files, drawn as the bot would reply.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from bot.cli.exits import UsageProblem
from bot.cli.parts import load_artist
from bot.conversation.commands import language, normalise
from bot.conversation.kinds import Wish, wish
from bot.conversation.texts import missing_text
from bot.drawing.artist import Artist, Drawing
from bot.settings import Settings
from model.files import atomic_write

IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


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
    said = {missing_text(wanted.kind, wanted.tone, d.what, lang, artist.vocabulary)
            for d in drawings}
    for sentence in sorted(said - {""}):
        print(sentence)


def _draw(artist: Artist, request_id: str, seed_id: int | None, wanted: Wish | None = None):
    try:
        wanted = wanted or Wish()
        return artist.draw(request_id, seed_id, kind=wanted.kind, tone=wanted.tone)
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
