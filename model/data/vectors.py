"""The vector data set: the person emoji of three flat styles (Noto, Twemoji, Fluent Flat), from
the SVG bodies of their Iconify JSON packages on npm, rendered with resvg at any size.

    build_emoji_styles(DIR, size=128)      # DIR/noto/0123_person-role_1F469-...png, ...

Each package is fetched once with npm's own client (``npm pack NAME@VERSION``) at a pinned
version, checked against its pinned integrity hash (the registry's sha512, the one
package-lock.json records) and cached; only its ``icons.json`` (SVG bodies) and ``chars.json``
(code points -> icon name) are read, straight from the tarball. Nothing here is committed: the
pictures are rendered into the cache on first use. File names are the built-in font set's
(model.data.emoji), inside one folder per style, so that kinds, subgroups and tones come from
the same code (model.data.kinds.Kinds.label_of_file) and the style from the folder.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from model.data.emoji import EMOJI_TEST, person_emoji
from model.data.kinds import STYLES
from model.errors import UserError
from model.files import build_lock

log = logging.getLogger(__name__)

BUILTIN_STYLES = "emoji-styles"


@dataclass(frozen=True)
class VectorSet:
    """One style's npm package, pinned, and what its licence asks of us."""

    style: str  # one of model.data.kinds.STYLES: the folder and the class name
    package: str
    version: str
    integrity: str  # npm's dist.integrity of that version: sha512-<base64>
    licence: str  # SPDX
    credit: str  # the attribution the NOTICE, the card and the README carry

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"

    @property
    def tarball(self) -> str:  # the name npm pack gives the file
        return f"{self.package.lstrip('@').replace('/', '-')}-{self.version}.tgz"


VECTOR_SETS: tuple[VectorSet, ...] = (
    VectorSet("noto", "@iconify-json/noto", "1.2.9",
              "sha512-DQiuXENbun41ch+XPSV55H9FaWKpHTyz46YIKtSaKYD4fIDDzL1tR6H4np/T38jfrTAeI3rcK"
              "F0mqHYeZVAuaw==", "Apache-2.0",
              "Noto Emoji by Google Inc., Apache License 2.0"),
    VectorSet("twemoji", "@iconify-json/twemoji", "1.2.5",
              "sha512-uKpuIEV0v6K5BW3Mjdyl+XKFVAbbcPxAgifKvEMtZoUZB5+YiY5zaMm2uNNCxyXzAWU9yNLlj41"
              "WU6/mvgALsw==", "CC-BY-4.0",
              "Twemoji by Twitter, Inc. and other contributors, CC BY 4.0"),
    VectorSet("fluent", "@iconify-json/fluent-emoji-flat", "1.2.6",
              "sha512-RY47RgPb47fYUiyrA64sIOL0+UU02s29sXpNBbIQRBUlPlfNFTKUmZDERGuxDs/7yNGWqQYvuaS"
              "YM1M4fRXlUw==", "MIT",
              "Fluent Emoji (Flat) by Microsoft Corporation, MIT License"),
)
assert tuple(v.style for v in VECTOR_SETS) == STYLES


@dataclass(frozen=True)
class IconSet:
    """What a package's tarball holds that rendering needs."""

    icons: dict[str, dict[str, Any]]  # name -> {"body": svg inner markup, [width, height, ...]}
    chars: dict[str, str]  # "1f469-1f3fe-200d-1f373" -> icon name
    width: int  # the default view box
    height: int

    def svg(self, codes: str) -> str | None:
        """The standalone SVG of an emoji ('1F469 1F3FE 200D 1F373'), or None if the set
        lacks it. chars.json spells sequences lower-case, with or without FE0F."""
        points = codes.lower().split()
        name = self.chars.get("-".join(points)) or self.chars.get(
            "-".join(p for p in points if p != "fe0f"))
        icon = self.icons.get(name) if name else None
        if icon is None:
            return None
        left, top = icon.get("left", 0), icon.get("top", 0)
        width, height = icon.get("width", self.width), icon.get("height", self.height)
        return (f'<svg xmlns="http://www.w3.org/2000/svg" '
                f'xmlns:xlink="http://www.w3.org/1999/xlink" '
                f'viewBox="{left} {top} {width} {height}">{icon["body"]}</svg>')


def _integrity(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def fetch_package(vset: VectorSet, cache: Path) -> Path:
    """The package's tarball in cache (npm pack on first use), its integrity checked."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / vset.tarball
    if not path.is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise UserError(f"building {BUILTIN_STYLES} needs npm to fetch {vset.spec}; "
                            "install it with: apt-get install npm")
        log.info("fetching %s with npm pack", vset.spec)
        tmp = cache / f".pack{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        done = subprocess.run([npm, "pack", vset.spec, "--silent"], cwd=tmp, text=True,
                              capture_output=True)
        fetched = tmp / vset.tarball
        if done.returncode != 0 or not fetched.is_file():
            shutil.rmtree(tmp, ignore_errors=True)
            problem = " ".join((done.stderr or done.stdout).split())[:200]
            raise UserError(f"npm pack {vset.spec} failed ({problem}); check that the npm "
                            "registry is reachable, then retry")
        os.replace(fetched, path)
        shutil.rmtree(tmp, ignore_errors=True)
    found = _integrity(path)
    if found != vset.integrity:
        path.unlink()  # never keep a file that is not the pinned package
        raise UserError(f"{vset.spec} from npm has integrity {found[:24]}..., not the pinned "
                        f"{vset.integrity[:24]}...; it was deleted: retry, and if it persists "
                        "the registry serves another file than the pinned one")
    return path


def read_icon_set(tarball: Path) -> IconSet:
    """icons.json and chars.json straight from an Iconify JSON package's tarball (nothing is
    extracted to disk)."""
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            icons = json.load(_member(tar, "package/icons.json"))
            chars = json.load(_member(tar, "package/chars.json"))
    except (OSError, tarfile.TarError, ValueError, KeyError) as exc:
        raise UserError(f"{tarball} is not a readable Iconify JSON package ({exc}); delete it "
                        "and retry") from None
    return IconSet(icons["icons"], chars, int(icons.get("width", 16)),
                   int(icons.get("height", 16)))


def _member(tar: tarfile.TarFile, name: str) -> io.BufferedReader:
    f = tar.extractfile(name)
    if f is None:
        raise KeyError(name)
    return f  # type: ignore[return-value]


def render_svg(svg: str, size: int) -> Image.Image:
    """An SVG -> size x size RGB on white, its view box scaled to fit and centred."""
    import resvg_py  # imported here: only building the vector set needs it

    png = resvg_py.svg_to_bytes(svg_string=svg, width=size, height=size,
                                skip_system_fonts=True)
    with Image.open(io.BytesIO(bytes(png))) as img:
        rgba = img.convert("RGBA")
    out = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    out.alpha_composite(rgba, ((size - rgba.width) // 2, (size - rgba.height) // 2))
    return out.convert("RGB")


def build_emoji_styles(out_dir: Path, size: int, sets: Iterable[tuple[str, IconSet]],
                       test_file: Path = EMOJI_TEST) -> dict[str, int]:
    """Render every person emoji of each (style, icon set) into out_dir/style/; returns how
    many were written per style. An emoji a set lacks is skipped with a warning."""
    if not test_file.is_file():
        raise UserError(f"emoji list {test_file} not found; install it with: "
                        "apt-get install unicode-data")
    emoji = person_emoji(test_file)
    written: dict[str, int] = {}
    for style, icon_set in sets:
        folder = out_dir / style
        folder.mkdir(parents=True, exist_ok=True)
        written[style] = 0
        for i, (subgroup, codes, _name) in enumerate(emoji):
            svg = icon_set.svg(codes)
            if svg is None:
                log.warning("%s has no %s; skipped", style, codes)
                continue
            name = f"{i:04d}_{subgroup}_{codes.replace(' ', '-')}.png"
            render_svg(svg, size).save(folder / name, optimize=True)
            written[style] += 1
    return written


def ensure_emoji_styles(folder: Path, size: int, npm_cache: Path) -> Path:
    """Build the vector set at size into folder unless a complete build is there; a crash
    mid-build leaves no half-built set behind."""
    marker = folder / "COMPLETE"
    if marker.is_file():
        return folder
    with build_lock(folder):
        if marker.is_file():  # another process built it while this one waited
            return folder
        sets = [(v.style, read_icon_set(fetch_package(v, npm_cache))) for v in VECTOR_SETS]
        tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        log.info("rendering the %s data set at %d px into %s (once)", BUILTIN_STYLES, size,
                 folder)
        counts = build_emoji_styles(tmp, size, sets)
        (tmp / "COMPLETE").write_text(json.dumps({
            "size": size, "images": counts,
            "packages": {v.style: v.spec for v in VECTOR_SETS}}) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    return folder


def data_credits(source: str) -> list[dict[str, str]]:
    """What a weights card says of the licences of the built-in data it was trained on
    (the vector set's three packages, or the Noto font); [] for a folder of one's own."""
    from model.data.emoji import BUILTIN

    if source == BUILTIN_STYLES:
        return [{"style": v.style, "package": v.spec, "licence": v.licence, "credit": v.credit}
                for v in VECTOR_SETS]
    if source == BUILTIN:
        return [{"style": "noto", "package": "Debian fonts-noto-color-emoji",
                 "licence": "OFL-1.1", "credit": "Noto Color Emoji by Google Inc., SIL Open "
                 "Font License 1.1"}]
    return []
