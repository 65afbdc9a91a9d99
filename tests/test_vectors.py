"""The vector data set (model.data.vectors): an Iconify JSON package's tarball -> PNGs in one
folder per style, labelled by kind, tone and style. No npm and no network: the tests write
their own packages (a few SVGs) and put them where npm pack would have.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.data.images import Dataset, load_dataset
from model.data.kinds import load_kinds
from model.data.vectors import (
    BUILTIN_STYLES,
    VectorSet,
    _integrity,
    build_emoji_styles,
    ensure_emoji_styles,
    fetch_package,
    read_icon_set,
)
from model.errors import UserError
from model.train.cond import parse_cond, with_labels

# Two person-role emoji of emoji-test.txt's format, and one of another subgroup (not drawn).
EMOJI_TEST = """\
# group: People & Body
# subgroup: person-role
1F469 1F3FE 200D 1F373                                 ; fully-qualified     # 👩🏾‍🍳 E4.0 woman cook: medium-dark skin tone
1F575 FE0F                                             ; fully-qualified     # 🕵️ E0.7 detective
1F575                                                  ; unqualified         # 🕵 E0.7 detective
# subgroup: hand-fingers-open
1F44B                                                  ; fully-qualified     # 👋 E0.6 waving hand
"""  # noqa: E501

RED_DISC = '<circle cx="18" cy="18" r="9" fill="#ff0000"/>'  # in a 36-unit view box
BLUE_HALF = '<rect x="0" y="0" width="16" height="32" fill="#0000ff"/>'  # left half of 32


def icon_package(path: Path, icons: dict, chars: dict, width: int) -> Path:
    """An Iconify JSON package tarball as npm pack writes it (package/icons.json, ...)."""
    files = {"package/icons.json": {"prefix": "t", "icons": icons, "width": width,
                                     "height": width},
             "package/chars.json": chars, "package/package.json": {"name": "t"}}
    with tarfile.open(path, "w:gz") as tar:
        for name, obj in files.items():
            data = json.dumps(obj).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def packages(tmp_path: Path) -> dict[str, Path]:
    """Two styles' tarballs: a red disc for the cook, a blue left half for the detective
    (named without FE0F, as chars.json does)."""
    twemoji = icon_package(tmp_path / "tw.tgz", {"woman-cook-medium-dark": {"body": RED_DISC}},
                           {"1f469-1f3fe-200d-1f373": "woman-cook-medium-dark"}, 36)
    fluent = icon_package(tmp_path / "fl.tgz", {"detective": {"body": BLUE_HALF},
                                                "cook": {"body": BLUE_HALF}},
                          {"1f575": "detective", "1f469-1f3fe-200d-1f373": "cook"}, 32)
    return {"twemoji": twemoji, "fluent": fluent}


@pytest.fixture
def emoji_test(tmp_path: Path) -> Path:
    path = tmp_path / "emoji-test.txt"
    path.write_text(EMOJI_TEST, encoding="utf-8")
    return path


def test_renders_each_style_into_its_folder_at_the_size_asked(packages, emoji_test, tmp_path):
    sets = [(style, read_icon_set(p)) for style, p in packages.items()]
    counts = build_emoji_styles(tmp_path / "out", 48, sets, emoji_test)
    assert counts == {"twemoji": 1, "fluent": 2}  # twemoji lacks the detective: skipped
    cook = tmp_path / "out/twemoji/0000_person-role_1F469-1F3FE-200D-1F373.png"
    px = np.asarray(Image.open(cook).convert("RGB"))
    assert px.shape == (48, 48, 3)
    assert tuple(px[24, 24]) == (255, 0, 0)  # the disc, scaled from 36 units to 48 px
    assert tuple(px[2, 2]) == (255, 255, 255)  # on white, not transparent black
    detective = np.asarray(Image.open(
        tmp_path / "out/fluent/0001_person-role_1F575-FE0F.png").convert("RGB"))
    assert tuple(detective[24, 6]) == (0, 0, 255) and tuple(detective[24, 42]) == (255,) * 3


def test_labels_say_kind_tone_and_style(packages, emoji_test, tmp_path):
    build_emoji_styles(tmp_path / "out", 32, [(s, read_icon_set(p)) for s, p in
                                              packages.items()], emoji_test)
    label = load_kinds().label_of_file("twemoji/0000_person-role_1F469-1F3FE-200D-1F373.png")
    assert (label.kind, label.tone, label.style) == ("cook", "medium-dark", "twemoji")
    names = ("twemoji/0000_person-role_1F469-1F3FE-200D-1F373.png",
             "fluent/0001_person-role_1F575-FE0F.png")
    data = Dataset(np.zeros((2, 3, 4, 4), np.uint8), "h", BUILTIN_STYLES, names)
    cond = parse_cond("kind,tone,style")
    rows = with_labels(data, cond).labels.tolist()
    classes = dict(cond)
    assert [classes["style"][r[2]] for r in rows] == ["twemoji", "fluent"]
    assert [classes["kind"][r[0]] for r in rows] == ["cook", "detective"]
    assert [classes["tone"][r[1]] for r in rows] == ["medium-dark", ""]


def test_a_style_label_needs_the_style_folders():
    # the font set has one style and no style folders: conditioning on style says how to fix
    data = Dataset(np.zeros((1, 3, 4, 4), np.uint8), "h", "emoji-people",
                   ("0000_person-role_1F469-1F3FE-200D-1F373.png",))
    with pytest.raises(UserError, match=r"--cond style.*not one of"):
        with_labels(data, parse_cond("kind,style"))


def pinned(tarball: Path, integrity: str | None = None) -> VectorSet:
    return VectorSet("twemoji", "@t/pkg", "1.0.0", integrity or _integrity(tarball),
                     "CC-BY-4.0", "credit")


def test_a_cached_package_with_its_pinned_hash_is_used_without_npm(packages, tmp_path,
                                                                  monkeypatch):
    vset = pinned(packages["twemoji"])
    cache = tmp_path / "npm"
    cache.mkdir()
    (cache / vset.tarball).write_bytes(packages["twemoji"].read_bytes())
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no npm to fall back on
    assert fetch_package(vset, cache) == cache / vset.tarball


def test_a_package_that_is_not_the_pinned_one_is_refused_and_deleted(packages, tmp_path):
    vset = pinned(packages["twemoji"], integrity="sha512-" + "A" * 86 + "==")
    cache = tmp_path / "npm"
    cache.mkdir()
    (cache / vset.tarball).write_bytes(packages["twemoji"].read_bytes())
    with pytest.raises(UserError, match=r"not the pinned"):
        fetch_package(vset, cache)
    assert not (cache / vset.tarball).exists()


def test_without_npm_the_error_says_how_to_install_it(packages, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    with pytest.raises(UserError, match="apt-get install npm"):
        fetch_package(pinned(packages["twemoji"]), tmp_path / "npm")


def test_a_damaged_tarball_is_one_line(tmp_path):
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(UserError, match=r"not a readable Iconify JSON package.*delete it"):
        read_icon_set(bad)


def test_load_dataset_reads_a_built_set_at_its_size(packages, emoji_test, tmp_path):
    # what ensure_emoji_styles leaves behind (COMPLETE marker): loaded without rebuilding
    folder = tmp_path / f"{BUILTIN_STYLES}-32"
    build_emoji_styles(folder, 32, [(s, read_icon_set(p)) for s, p in packages.items()],
                       emoji_test)
    (folder / "COMPLETE").write_text("{}")
    assert ensure_emoji_styles(folder, 32, tmp_path / "npm") == folder
    ds = load_dataset(BUILTIN_STYLES, 32, cache_dir=tmp_path)
    assert ds.source == BUILTIN_STYLES and ds.images.shape == (3, 3, 32, 32)
    assert sorted(n.split("/")[0] for n in ds.names) == ["fluent", "fluent", "twemoji"]
    red = ds.images[list(ds.names).index(
        "twemoji/0000_person-role_1F469-1F3FE-200D-1F373.png")]
    assert red[:, 16, 16].tolist() == [255, 0, 0]


def test_processes_that_need_the_set_at_once_build_it_once(packages, emoji_test, tmp_path,
                                                           monkeypatch):
    # Two training runs, or two test workers, asking for the same set at the same moment: one
    # builds under the folder's lock, the others wait and read its build (none deletes the
    # folder under a reader).
    import threading

    import model.data.vectors as vectors

    builds = []

    def build(out: Path, size: int, _sets) -> dict[str, int]:
        builds.append(out)
        return build_emoji_styles(out, size, [(s, read_icon_set(p)) for s, p in
                                              packages.items()], emoji_test)

    monkeypatch.setattr(vectors, "VECTOR_SETS", ())
    monkeypatch.setattr(vectors, "build_emoji_styles", build)
    folder, start, got = tmp_path / f"{BUILTIN_STYLES}-32", threading.Barrier(4), []

    def ensure() -> None:
        start.wait()
        got.append(ensure_emoji_styles(folder, 32, tmp_path / "npm"))

    workers = [threading.Thread(target=ensure) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert got == [folder] * 4 and len(builds) == 1
    assert sorted(p.name for p in folder.iterdir()) == ["COMPLETE", "fluent", "twemoji"]
    assert not list(tmp_path.glob("*.tmp*"))
