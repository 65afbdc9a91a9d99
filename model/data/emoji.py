"""The built-in data set: the person emoji of Noto Color Emoji (Debian fonts-noto-color-emoji),
named by Unicode's emoji-test.txt (Debian unicode-data), rendered once into a folder of PNGs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from model.errors import UserError
from model.files import build_lock

log = logging.getLogger(__name__)

EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")

EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")

EMOJI_SIZE = 109  # the size of Noto Color Emoji's bitmap strike: other sizes do not render

PERSON_SUBGROUPS = ("person", "person-gesture", "person-role", "person-fantasy")

BUILTIN = "emoji-people"


def person_emoji(test_file: Path = EMOJI_TEST) -> list[tuple[str, str, str]]:
    """(subgroup, code points, name) of the fully-qualified person emoji in emoji-test.txt."""
    out = []
    subgroup = None
    for line in test_file.read_text(encoding="utf-8").splitlines():
        if line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif subgroup in PERSON_SUBGROUPS and "; fully-qualified" in line:
            codes, rest = line.split(";", 1)
            name = rest.split("#", 1)[1].strip().split(" ", 2)[-1] if "#" in rest else ""
            out.append((subgroup, codes.strip(), name))
    return out


def render_emoji(font: ImageFont.FreeTypeFont, text: str) -> Image.Image | None:
    """One emoji -> RGB image cropped to the glyph, on white; None if the font has no glyph."""
    canvas = Image.new("RGBA", (EMOJI_SIZE * 3, EMOJI_SIZE * 2), (255, 255, 255, 0))
    ImageDraw.Draw(canvas).text((8, 8), text, font=font, embedded_color=True)
    bbox = canvas.getchannel("A").getbbox()
    if bbox is None:
        return None
    glyph = canvas.crop(bbox)
    if glyph.width > EMOJI_SIZE * 1.5:  # a sequence the font lacks falls apart into pieces
        return None
    side = max(glyph.size) + 8  # a small white margin around the centred glyph
    out = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    out.alpha_composite(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2))
    return out.convert("RGB")


def build_emoji_people(out_dir: Path, font_path: Path = EMOJI_FONT,
                       test_file: Path = EMOJI_TEST) -> int:
    """Write one PNG per person emoji into out_dir; returns how many were written."""
    if not font_path.is_file():
        raise UserError(
            f"font {font_path} not found; install it with: apt-get install fonts-noto-color-emoji"
        )
    if not test_file.is_file():
        raise UserError(
            f"emoji list {test_file} not found; install it with: apt-get install unicode-data"
        )
    font = ImageFont.truetype(str(font_path), EMOJI_SIZE)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for i, (subgroup, codes, _name) in enumerate(person_emoji(test_file)):
        text = "".join(chr(int(c, 16)) for c in codes.split())
        img = render_emoji(font, text)
        if img is None:
            log.warning("font has no single glyph for %s; skipped", codes)
            continue
        img.save(out_dir / f"{i:04d}_{subgroup}_{codes.replace(' ', '-')}.png", optimize=True)
        written += 1
    return written


def ensure_emoji_people(folder: Path) -> Path:
    """Build the built-in set into folder unless a complete build is already there."""
    marker = folder / "COMPLETE"
    if marker.is_file():
        return folder
    with build_lock(folder):
        if marker.is_file():  # another process built it while this one waited
            return folder
        tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        log.info("building the emoji-people data set into %s (once)", folder)
        n = build_emoji_people(tmp)
        (tmp / "COMPLETE").write_text(json.dumps({"images": n}) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)  # a crash mid-build leaves no half-built set behind
    return folder
