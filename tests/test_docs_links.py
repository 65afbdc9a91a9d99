"""The documentation holds together: every relative link and picture in README.md, docs/*.md
and deploy/*.md names a file that exists (and a `#heading` in it that exists, by GitHub's
anchor rules), the README stays one page, and docs/CONFIGURATION.md names every setting."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md"),
                *(REPO / "deploy").glob("*.md")])
README_LIMIT = 220  # the hard limit; the README aims at 200 lines or fewer

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# [text](target) and ![alt](target); the text may hold one level of brackets
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"`[^`]*`")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, file:


def prose(text: str) -> list[str]:
    """The lines of a page, those of fenced code blocks (and their fences) left blank."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            line = ""
        lines.append("" if fenced else line)  # one entry per line: the numbers stay true
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text without markup, lower case, punctuation
    dropped (letters, digits, `_`, `-` and spaces kept), spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    kept = "".join(c for c in text if c in "-_ " or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings; a repeated heading gets -1, -2, ... as on GitHub."""
    out, counts = set(), {}
    for line in prose(page.read_text(encoding="utf-8")):
        if m := HEADING.match(line):
            base = slug(m.group(2))
            n = counts.get(base, 0)
            counts[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(page: Path) -> list[tuple[int, str]]:
    """(line number, target) of each link and picture outside code; a link's text, like a
    code span, may run over lines."""
    text = "\n".join(prose(page.read_text(encoding="utf-8")))
    text = INLINE_CODE.sub(lambda m: "\n" * m.group().count("\n"), text)  # keep the numbers
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in LINK.finditer(text)]


def test_the_pages_are_found() -> None:
    names = {p.relative_to(REPO).as_posix() for p in PAGES}
    for name in ("README.md", "docs/CONFIGURATION.md", "docs/MODEL_CARD.md", "docs/TRAINING.md",
                 "docs/CURATING.md", "docs/EXPERIMENTS.md", "docs/ARCHITECTURE.md",
                 "deploy/OPERATIONS.md"):
        assert name in names, name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_and_picture_resolves(page: Path) -> None:
    broken = []
    for number, target in links(page):
        if EXTERNAL.match(target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        where = f"{page.relative_to(REPO)}:{number}: {target}"
        if not file.exists():
            broken.append(f"{where} (no such file)")
        elif REPO not in file.parents and file != REPO:
            broken.append(f"{where} (outside the repository)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{where} (no heading with that anchor)")
    assert not broken, "\n".join(broken)


def test_the_readme_is_one_page() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_LIMIT, f"README.md has {len(lines)} lines: move detail to docs/"


def test_the_readme_says_where_each_page_is() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    targets = {target.partition("#")[0] for _, target in links(REPO / "README.md")}
    for page in PAGES:
        name = page.relative_to(REPO).as_posix()
        if name != "README.md":
            assert name in targets, f"README.md does not link {name}"
    assert "make run" in readme and "make test" in readme


def test_the_configuration_page_names_every_setting() -> None:
    from pydantic import BaseModel

    from bot.settings import Settings

    page = (REPO / "docs" / "CONFIGURATION.md").read_text(encoding="utf-8")
    missing = []
    for name, field in Settings.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            names = [f"BOT_{name.upper()}__{sub.upper()}" for sub in kind.model_fields]
        else:
            names = [f"BOT_{name.upper()}"]
        missing += [n for n in names if f"`{n}`" not in page]
    assert not missing, f"docs/CONFIGURATION.md does not name {missing}"


def test_the_slug_follows_github() -> None:
    assert slug("What ships: FastGAN conditioned on kind and skin tone (2026-11-29)") == \
        "what-ships-fastgan-conditioned-on-kind-and-skin-tone-2026-11-29"
    assert slug("Throughput (`python -m model.bench`, `python -m bot.bench`)") == \
        "throughput-python--m-modelbench-python--m-botbench"
    assert slug("When the platform fails (outages, rate limits, a full disk)") == \
        "when-the-platform-fails-outages-rate-limits-a-full-disk"
    assert slug("`nets/`: what a GAN is") == "nets-what-a-gan-is"
