"""Write a built-in data set to a folder.

    python -m model.data emoji-people DIR             # the ~1,000 PNGs of the Noto font
    python -m model.data emoji-styles DIR --size 128  # ~3,000 PNGs: Noto, Twemoji, Fluent Flat

emoji-people: the person emoji of Noto Color Emoji, named by Unicode's emoji-test.txt (the
Debian packages fonts-noto-color-emoji and unicode-data), one PNG each, the file name saying
its subgroup and code points. Small and quick: the tests' set.
emoji-styles: the same emoji in three flat styles, rendered at any size from the SVGs of their
Iconify JSON packages on npm (fetched with `npm pack` at pinned versions, integrity-checked,
cached), one folder per style (noto/, twemoji/, fluent/). Licences: see NOTICE.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from model.data.emoji import BUILTIN, build_emoji_people
from model.data.images import default_cache_dir
from model.data.vectors import (
    BUILTIN_STYLES,
    VECTOR_SETS,
    build_emoji_styles,
    fetch_package,
    read_icon_set,
)
from model.errors import UserError, run_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    emoji = sub.add_parser(BUILTIN, help="render the built-in emoji people into DIR")
    emoji.add_argument("dir", type=Path)
    styles = sub.add_parser(BUILTIN_STYLES, help="render the three flat styles into DIR")
    styles.add_argument("dir", type=Path)
    styles.add_argument("--size", type=int, default=128, help="pixels a side (default 128)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == BUILTIN:
        n = build_emoji_people(args.dir)
        print(f"wrote {n} images to {args.dir}")
        return 0
    if not 16 <= args.size <= 1024:
        raise UserError(f"--size {args.size} is out of range; choose 16 to 1024 (64, 128, 256)")
    npm_cache = default_cache_dir() / "npm"
    sets = [(v.style, read_icon_set(fetch_package(v, npm_cache))) for v in VECTOR_SETS]
    counts = build_emoji_styles(args.dir, args.size, sets)
    print(f"wrote {sum(counts.values())} images ({', '.join(f'{k} {v}' for k, v in counts.items())}"
          f") at {args.size} px to {args.dir}")
    return 0


if __name__ == "__main__":
    run_cli(main)
