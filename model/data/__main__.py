"""Write the built-in data set to a folder.

    python -m model.data emoji-people DIR    # write the ~1,000 built-in PNGs to DIR

The ~1,000 person emoji of Noto Color Emoji, named by Unicode's emoji-test.txt (the Debian
packages fonts-noto-color-emoji and unicode-data), one PNG each, the file name saying its
subgroup and code points.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from model.data.emoji import BUILTIN, build_emoji_people
from model.errors import run_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    emoji = sub.add_parser(BUILTIN, help="render the built-in emoji people into DIR")
    emoji.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    n = build_emoji_people(args.dir)
    print(f"wrote {n} images to {args.dir}")
    return 0


if __name__ == "__main__":
    run_cli(main)
