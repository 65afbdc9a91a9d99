"""Tests for model.data on real image files written into tmp_path, and the emoji people."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFont

from model.data import __main__ as data_cli
from model.data.emoji import (
    EMOJI_FONT,
    EMOJI_SIZE,
    EMOJI_TEST,
    PERSON_SUBGROUPS,
    build_emoji_people,
    ensure_emoji_people,
    person_emoji,
    render_emoji,
)
from model.data.images import epoch_permutation, load_dataset, load_folder, random_flip, to_float
from model.errors import UserError

REPO = Path(__file__).resolve().parents[1]
WHITE = (255, 255, 255)
needs_font = pytest.mark.skipif(
    not EMOJI_FONT.is_file(), reason="apt-get install fonts-noto-color-emoji"
)
needs_list = pytest.mark.skipif(not EMOJI_TEST.is_file(), reason="apt-get install unicode-data")


def _solid(path: Path, colour, size=(20, 20), mode="RGB", **save) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path, **save)
    return path


def _pixel(images: torch.Tensor, i: int, y: int, x: int) -> tuple[int, ...]:
    return tuple(int(v) for v in images[i, :, y, x])


def _mean_colour(images: torch.Tensor, i: int) -> np.ndarray:
    return images[i].float().mean(dim=(1, 2)).numpy()


def _warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.fixture
def mixed_folder(tmp_path: Path) -> tuple[Path, dict[str, tuple[int, int, int]]]:
    """Real files of each format in nested folders, each one solid colour, plus a non-image."""
    root = tmp_path / "images"
    expected = {}
    expected[str(_solid(root / "a_red.png", (255, 0, 0)))] = (255, 0, 0)
    expected[str(_solid(root / "sub" / "b_green.jpg", (0, 200, 0), quality=95))] = (0, 200, 0)
    webp = _solid(root / "sub" / "deeper" / "c_blue.webp", (0, 0, 255), lossless=True)
    expected[str(webp)] = (0, 0, 255)
    gif = root / "sub" / "d_anim.gif"
    frames = [Image.new("RGB", (20, 20), (255, 255, 0)), Image.new("RGB", (20, 20), (255, 0, 255))]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    expected[str(gif)] = (255, 255, 0)  # the first frame, not the magenta second one
    expected[str(_solid(root / "e_grey.PNG", 128, mode="L"))] = (128, 128, 128)
    rgba = _solid(root / "f_rgba.png", (10, 20, 30, 255), mode="RGBA")
    expected[str(rgba)] = (10, 20, 30)
    expected[str(_solid(root / "g_pal.bmp", (0, 0, 0)))] = (0, 0, 0)
    (root / "notes.txt").write_text("not an image\n")
    (root / "sub" / "README").write_text("neither\n")
    return root, expected


# ---------------------------------------------------------------- decoding a folder


def test_load_folder_decodes_every_format_in_nested_folders(mixed_folder, tmp_path):
    root, expected = mixed_folder
    ds = load_folder(root, 16, tmp_path / "cache")
    assert ds.images.shape == (len(expected), 3, 16, 16)
    assert ds.images.dtype == torch.uint8
    assert len(ds) == len(expected)
    assert ds.source == str(root)
    # images come in sorted path order; each is its file's solid colour
    for i, path in enumerate(sorted(expected)):
        got = _mean_colour(ds.images, i)
        np.testing.assert_allclose(got, expected[path], atol=3, err_msg=path)


def test_load_folder_of_exact_size_is_lossless(tmp_path):
    root = tmp_path / "img"
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, size=(24, 24, 3), dtype=np.uint8) for _ in range(3)]
    root.mkdir()
    for i, a in enumerate(arrays):
        Image.fromarray(a).save(root / f"{i}.png")
    ds = load_folder(root, 24, tmp_path / "cache")
    for i, a in enumerate(arrays):
        np.testing.assert_array_equal(ds.images[i].numpy(), a.transpose(2, 0, 1))


def test_transparent_background_becomes_white(tmp_path):
    root = tmp_path / "img"
    root.mkdir()
    # transparent red around an opaque black centre, and a half-transparent black strip
    img = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    for y in range(6, 14):
        for x in range(6, 14):
            img.putpixel((x, y), (0, 0, 0, 255))
    for x in range(20):
        img.putpixel((x, 18), (0, 0, 0, 128))
    img.save(root / "sprite.png")
    ds = load_folder(root, 20, tmp_path / "cache")
    im = ds.images
    for y, x in [(0, 0), (0, 19), (19, 0), (19, 19), (3, 10), (10, 3)]:
        assert _pixel(im, 0, y, x) == WHITE, (y, x)
    assert _pixel(im, 0, 10, 10) == (0, 0, 0)
    # alpha 128/255 of black over white: 255 * (1 - 128/255) = 127
    assert all(abs(v - 127) <= 1 for v in _pixel(im, 0, 18, 5))


@pytest.mark.parametrize(
    ("width", "height", "colour"),
    [(40, 20, (0, 0, 255)), (10, 30, (200, 50, 0))],
)
def test_non_square_image_is_centred_on_white(tmp_path, width, height, colour):
    root = tmp_path / "img"
    _solid(root / "wide.png", colour, size=(width, height))
    side = max(width, height)
    ds = load_folder(root, side, tmp_path / "cache")  # same size: no resampling to blur edges
    im = ds.images[0]
    assert im.shape == (3, side, side)
    top, left = (side - height) // 2, (side - width) // 2
    inside = torch.zeros(side, side, dtype=torch.bool)
    inside[top : top + height, left : left + width] = True
    expected = torch.where(
        inside, torch.tensor(colour).view(3, 1, 1), torch.tensor(WHITE).view(3, 1, 1)
    ).to(torch.uint8)
    assert torch.equal(im, expected)


def test_non_square_image_resized_keeps_white_bars(tmp_path):
    root = tmp_path / "img"
    _solid(root / "wide.png", (0, 0, 0), size=(64, 32))
    im = load_folder(root, 16, tmp_path / "cache").images[0]
    # the 64x32 picture sits in rows 16..47 of a 64x64 square: rows 4..11 of 16.
    # Lanczos rings a little near the edges, so allow a few levels.
    assert im.shape == (3, 16, 16)
    assert (im[:, :3, :] >= 250).all() and (im[:, 13:, :] >= 250).all()
    assert (im[:, 5:11, :] <= 5).all()
    assert torch.equal(im, im.flip(1))  # centred: symmetric top to bottom


def test_exif_rotation_is_applied(tmp_path):
    root = tmp_path / "img"
    root.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.new("RGB", (40, 20), (0, 0, 0)).save(root / "photo.png", exif=exif)
    im = load_folder(root, 40, tmp_path / "cache").images[0]
    # displayed 20 wide x 40 high: white bars left and right, not top and bottom
    assert (im[:, :, :10] == 255).all() and (im[:, :, 30:] == 255).all()
    assert (im[:, :, 10:30] == 0).all()


@pytest.mark.parametrize("content", ["garbage", "empty", "truncated"])
def test_unreadable_file_is_skipped_with_one_warning(tmp_path, caplog, content):
    root = tmp_path / "img"
    _solid(root / "good1.png", (255, 0, 0))
    _solid(root / "good2.png", (0, 255, 0))
    bad = root / "bad.png"
    if content == "garbage":
        bad.write_bytes(b"this is not a png at all \x00\x01\x02" * 10)
    elif content == "empty":
        bad.write_bytes(b"")
    else:
        full = (root / "good1.png").read_bytes()
        bad.write_bytes(full[: len(full) // 2])
    caplog.set_level(logging.WARNING, logger="model.data")
    ds = load_folder(root, 16, tmp_path / "cache")
    assert len(ds) == 2
    warnings = _warnings(caplog)
    assert len(warnings) == 1
    assert "bad.png" in warnings[0].getMessage()
    # the good ones are all there, in order
    np.testing.assert_allclose(_mean_colour(ds.images, 0), (255, 0, 0), atol=1)
    np.testing.assert_allclose(_mean_colour(ds.images, 1), (0, 255, 0), atol=1)


def test_too_large_image_is_skipped_not_fatal(tmp_path, caplog, monkeypatch):
    # Pillow refuses images over 2 x MAX_IMAGE_PIXELS (about 179 megapixels by default) with
    # DecompressionBombError. Lower the limit instead of writing a huge file.
    root = tmp_path / "img"
    _solid(root / "huge.png", (0, 0, 0), size=(30, 30))  # 900 pixels
    _solid(root / "small.png", (0, 0, 0), size=(5, 5))  # 25 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    caplog.set_level(logging.WARNING, logger="model.data")
    ds = load_folder(root, 8, tmp_path / "cache")
    assert len(ds) == 1
    assert "huge.png" in _warnings(caplog)[0].getMessage()


def _one_line_user_error(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert exc.type is UserError
    assert msg and "\n" not in msg
    return msg


def test_missing_folder_is_a_user_error(tmp_path):
    folder = tmp_path / "no-such-folder"
    with pytest.raises(UserError) as info:
        load_folder(folder, 16, tmp_path / "cache")
    msg = _one_line_user_error(info)
    assert str(folder) in msg
    assert "--data" in msg
    assert not (tmp_path / "cache").exists()


def test_a_file_instead_of_a_folder_is_a_user_error(tmp_path):
    path = _solid(tmp_path / "one.png", (0, 0, 0))
    with pytest.raises(UserError) as info:
        load_folder(path, 16, tmp_path / "cache")
    assert str(path) in _one_line_user_error(info)


def test_folder_without_images_is_a_user_error(tmp_path):
    folder = tmp_path / "empty"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("hello\n")
    (folder / "sub" / "image.png.bak").write_bytes(b"x")
    with pytest.raises(UserError) as info:
        load_folder(folder, 16, tmp_path / "cache")
    msg = _one_line_user_error(info)
    assert str(folder) in msg
    assert ".png" in msg and "emoji-people" in msg  # what to put there, or what to use instead


def test_fewer_images_than_min_images_is_a_user_error(tmp_path):
    folder = tmp_path / "img"
    for i in range(3):
        _solid(folder / f"{i}.png", (i, i, i))
    assert len(load_folder(folder, 8, tmp_path / "cache", min_images=3)) == 3
    with pytest.raises(UserError) as info:
        load_folder(folder, 8, tmp_path / "cache", min_images=4)
    msg = _one_line_user_error(info)
    assert "3" in msg and "4" in msg
    assert "add images" in msg and "--batch" in msg


def test_only_unreadable_images_is_a_user_error(tmp_path, caplog):
    folder = tmp_path / "img"
    folder.mkdir()
    (folder / "x.png").write_bytes(b"nope")
    (folder / "y.jpg").write_bytes(b"nope either")
    caplog.set_level(logging.WARNING, logger="model.data")
    with pytest.raises(UserError) as info:
        load_folder(folder, 8, tmp_path / "cache")
    assert "0" in _one_line_user_error(info)
    assert len(_warnings(caplog)) == 2


# ---------------------------------------------------------------- the cache


def _cache_files(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("images-*.npy"))


def test_cache_is_written_and_read_back(mixed_folder, tmp_path):
    root, _ = mixed_folder
    cache_dir = tmp_path / "cache" / "nested"  # created on demand
    first = load_folder(root, 16, cache_dir)
    files = _cache_files(cache_dir)
    assert len(files) == 1
    assert first.data_hash in files[0].name
    np.testing.assert_array_equal(np.load(files[0]), first.images.numpy())
    assert list(cache_dir.iterdir()) == files  # no temporary files left behind

    # Overwrite the cache with a marker: the second call must return the marker, not decode.
    marker = np.full_like(first.images.numpy(), 7)
    np.save(files[0], marker)
    second = load_folder(root, 16, cache_dir)
    assert second.data_hash == first.data_hash
    assert (second.images == 7).all()


def test_cache_key_changes_with_files_and_size(mixed_folder, tmp_path):
    root, expected = mixed_folder
    cache_dir = tmp_path / "cache"
    base = load_folder(root, 16, cache_dir)
    np.save(_cache_files(cache_dir)[0], np.full_like(base.images.numpy(), 7))

    # touching a file (new mtime) makes a new cache, decoded afresh
    path = Path(sorted(expected)[0])
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    touched = load_folder(root, 16, cache_dir)
    assert touched.data_hash != base.data_hash
    assert len(_cache_files(cache_dir)) == 2
    assert not (touched.images == 7).all()
    torch.testing.assert_close(touched.images, base.images, rtol=0, atol=0)

    # adding an image makes another
    _solid(root / "sub" / "z_new.png", (1, 2, 3))
    added = load_folder(root, 16, cache_dir)
    assert added.data_hash not in {base.data_hash, touched.data_hash}
    assert len(added) == len(base) + 1
    assert len(_cache_files(cache_dir)) == 3

    # a non-image file does not count
    (root / "more-notes.txt").write_text("x\n")
    assert load_folder(root, 16, cache_dir).data_hash == added.data_hash

    # another size is another cache
    other = load_folder(root, 8, cache_dir)
    assert other.images.shape[-1] == 8
    assert other.data_hash != added.data_hash
    assert len(_cache_files(cache_dir)) == 4


def test_cache_key_changes_when_content_changes_with_same_mtime(tmp_path):
    folder = tmp_path / "img"
    path = _solid(folder / "a.png", (255, 0, 0))
    st = path.stat()
    first = load_folder(folder, 8, tmp_path / "cache")
    _solid(path, (0, 0, 255), size=(30, 30))  # a different size on disk
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    second = load_folder(folder, 8, tmp_path / "cache")
    assert second.data_hash != first.data_hash
    np.testing.assert_allclose(_mean_colour(second.images, 0), (0, 0, 255), atol=1)


def test_load_dataset_reads_a_folder_path_string(mixed_folder, tmp_path):
    root, expected = mixed_folder
    ds = load_dataset(str(root), 8, tmp_path / "cache")
    assert ds.images.shape == (len(expected), 3, 8, 8)
    assert ds.source == str(root)


def test_load_dataset_default_cache_dir_follows_xdg(mixed_folder, tmp_path, monkeypatch):
    root, _ = mixed_folder
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    ds = load_dataset(str(root), 8)
    files = list((tmp_path / "xdg" / "human-image-bot").glob("images-*.npy"))
    assert [f.name for f in files] == [f"images-{ds.data_hash}.npy"]


def test_builtin_set_is_not_rebuilt_when_complete(tmp_path):
    cache_dir = tmp_path / "cache"
    folder = cache_dir / "emoji-people"
    for i in range(3):
        _solid(folder / f"{i:04d}_person.png", (i * 50, 0, 0), size=(12, 12))
    (folder / "COMPLETE").write_text('{"images": 3}\n')
    # no font is needed: the complete set is reused as it is
    assert ensure_emoji_people(folder) == folder
    ds = load_dataset("emoji-people", 12, cache_dir)
    assert ds.source == "emoji-people"
    assert ds.images.shape == (3, 3, 12, 12)
    assert [_pixel(ds.images, i, 6, 6)[0] for i in range(3)] == [0, 50, 100]


# ---------------------------------------------------------------- batches from memory


def _asymmetric_batch(b: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.randint(0, 256, (b, 3, 8, 8), generator=g, dtype=torch.uint8)


def test_random_flip_mirrors_some_images_exactly():
    torch.manual_seed(0)
    x = _asymmetric_batch()
    y = random_flip(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    mirrored = x.flip(3)
    flipped = [torch.equal(y[i], mirrored[i]) for i in range(len(x))]
    kept = [torch.equal(y[i], x[i]) for i in range(len(x))]
    assert all(f != k for f, k in zip(flipped, kept, strict=True))  # exactly one of the two
    assert 10 < sum(flipped) < 54  # about half of 64


def test_random_flip_works_on_float_images():
    torch.manual_seed(1)
    x = to_float(_asymmetric_batch(32))
    y = random_flip(x)
    for i in range(32):
        assert torch.equal(y[i], x[i]) or torch.equal(y[i], x[i].flip(2))


def test_to_float_maps_the_ends_and_middle():
    u = torch.tensor([0, 255, 51, 204], dtype=torch.uint8)
    f = to_float(u)
    assert f.dtype == torch.float32
    assert f[0].item() == -1.0
    assert f[1].item() == 1.0
    # 51 / 127.5 - 1 = -0.6 and 204 / 127.5 - 1 = 0.6
    torch.testing.assert_close(f[2:], torch.tensor([-0.6, 0.6]))
    assert u.tolist() == [0, 255, 51, 204]  # the input is left alone


def test_to_float_is_monotone_over_all_values():
    f = to_float(torch.arange(256, dtype=torch.uint8))
    assert (f[1:] > f[:-1]).all()
    assert f.min().item() == -1.0 and f.max().item() == 1.0


def test_epoch_permutation():
    n = 50
    p = epoch_permutation(n, epoch=3, seed=7)
    assert sorted(p.tolist()) == list(range(n))
    assert torch.equal(p, epoch_permutation(n, epoch=3, seed=7))
    others = [epoch_permutation(n, epoch=e, seed=7) for e in (0, 1, 2, 4)]
    assert all(not torch.equal(p, o) for o in others)
    assert not torch.equal(p, epoch_permutation(n, epoch=3, seed=8))


def test_epoch_permutation_ignores_global_rng():
    torch.manual_seed(0)
    a = epoch_permutation(20, epoch=1, seed=0)
    torch.manual_seed(99)
    torch.rand(10)
    assert torch.equal(a, epoch_permutation(20, epoch=1, seed=0))


# ---------------------------------------------------------------- the built-in emoji people

SMALL_TEST_FILE = """\
# group: Smileys & Emotion
# subgroup: face-smiling
1F600             ; fully-qualified     # 😀 E1.0 grinning face

# group: People & Body
# subgroup: person
1F476             ; fully-qualified     # 👶 E0.6 baby
1F9D1 200D 1F9B0  ; fully-qualified     # 🧑‍🦰 E12.1 person: red hair
1F9D1 200D 1F9B0  ; minimally-qualified # 🧑‍🦰 E12.1 person: red hair

# subgroup: person-gesture
1F64D 1F3FB       ; fully-qualified     # 🙍🏻 E1.0 person frowning: light skin tone

# subgroup: person-activity
1F6B6             ; fully-qualified     # 🚶 E0.6 person walking

# subgroup: person-role
2695 FE0F         ; fully-qualified     # ⚕️ E4.0 health worker
2695              ; unqualified         # ⚕ E4.0 health worker

# subgroup: person-fantasy
1F9DA             ; fully-qualified     # 🧚 E5.0 fairy

# subgroup: person-symbol
1F463             ; fully-qualified     # 👣 E0.6 footprints
"""


def test_person_emoji_on_a_small_list(tmp_path):
    path = tmp_path / "emoji-test.txt"
    path.write_text(SMALL_TEST_FILE, encoding="utf-8")
    assert person_emoji(path) == [
        ("person", "1F476", "baby"),
        ("person", "1F9D1 200D 1F9B0", "person: red hair"),
        ("person-gesture", "1F64D 1F3FB", "person frowning: light skin tone"),
        ("person-role", "2695 FE0F", "health worker"),
        ("person-fantasy", "1F9DA", "fairy"),
    ]


def test_build_emoji_people_without_font_names_the_package(tmp_path):
    with pytest.raises(UserError) as info:
        build_emoji_people(tmp_path / "out", font_path=tmp_path / "NoFont.ttf")
    msg = _one_line_user_error(info)
    assert "fonts-noto-color-emoji" in msg
    assert "NoFont.ttf" in msg
    assert not (tmp_path / "out").exists()


def test_build_emoji_people_without_list_names_the_package(tmp_path):
    font = tmp_path / "font.ttf"
    font.write_bytes(b"only needs to exist for this check")
    with pytest.raises(UserError) as info:
        build_emoji_people(tmp_path / "out", font_path=font, test_file=tmp_path / "none.txt")
    msg = _one_line_user_error(info)
    assert "unicode-data" in msg
    assert "none.txt" in msg
    assert not (tmp_path / "out").exists()


def _count_person_entries(path: Path) -> dict[str, int]:
    """Count fully-qualified entries per person subgroup, independently of person_emoji."""
    counts: dict[str, int] = {}
    current = None
    pattern = re.compile(r"^[0-9A-F ]+;\s*fully-qualified\s*#")
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"#\s*subgroup:\s*(\S+)", line)
        if m:
            current = m.group(1)
        elif pattern.match(line) and current in PERSON_SUBGROUPS:
            counts[current] = counts.get(current, 0) + 1
    return counts


@needs_list
def test_person_emoji_on_the_real_list():
    entries = person_emoji()
    assert 900 <= len(entries) <= 1100
    assert {s for s, _, _ in entries} == set(PERSON_SUBGROUPS)
    counts = _count_person_entries(EMOJI_TEST)
    assert len(entries) == sum(counts.values())
    for subgroup, n in counts.items():
        assert sum(1 for s, _, _ in entries if s == subgroup) == n
    assert ("person", "1F9D1", "person") in entries
    assert all(name for _, _, name in entries)
    assert len({codes for _, codes, _ in entries}) == len(entries)  # no duplicates
    for _, codes, _ in entries:
        assert all(re.fullmatch(r"[0-9A-F]{4,6}", c) for c in codes.split())


@pytest.fixture(scope="module")
def emoji_font() -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(EMOJI_FONT), EMOJI_SIZE)


@needs_font
def test_render_one_person_emoji(emoji_font):
    img = render_emoji(emoji_font, "\U0001f9d1")
    assert img is not None
    assert img.mode == "RGB"
    assert img.width == img.height
    assert EMOJI_SIZE // 2 < img.width < EMOJI_SIZE * 2
    a = np.asarray(img)
    for y, x in [(0, 0), (0, -1), (-1, 0), (-1, -1)]:
        assert tuple(a[y, x]) == WHITE
    assert (a != 255).any(axis=2).mean() > 0.2  # a glyph was drawn, not just white


@needs_font
def test_render_emoji_rejects_a_sequence_the_font_splits(emoji_font):
    # three people in a row are three glyphs side by side, far wider than one emoji
    assert render_emoji(emoji_font, "\U0001f9d1" * 3) is None


@needs_font
@needs_list
def test_build_emoji_people_on_a_short_list(tmp_path):
    path = tmp_path / "emoji-test.txt"
    path.write_text(SMALL_TEST_FILE, encoding="utf-8")
    out = tmp_path / "out"
    n = build_emoji_people(out, test_file=path)
    files = sorted(p.name for p in out.glob("*.png"))
    assert n == len(files) == 5
    assert files[0] == "0000_person_1F476.png"
    assert "0001_person_1F9D1-200D-1F9B0.png" in files
    for p in out.glob("*.png"):
        with Image.open(p) as im:
            assert im.mode == "RGB" and im.width == im.height
    ds = load_folder(out, 32, tmp_path / "cache")
    assert ds.images.shape == (5, 3, 32, 32)
    assert (ds.images[:, :, 0, 0] == 255).all()


@pytest.mark.slow
@needs_font
@needs_list
def test_emoji_people_cli_end_to_end(tmp_path):
    out = tmp_path / "people"
    proc = subprocess.run(
        [sys.executable, "-m", "model.data", "emoji-people", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    files = list(out.glob("*.png"))
    assert 900 <= len(files) <= 1100
    assert proc.stdout.strip() == f"wrote {len(files)} images to {out}"
    assert len(files) <= len(person_emoji())
    ds = load_folder(out, 16, tmp_path / "cache")
    assert len(ds) == len(files)


def test_module_cli_requires_a_command(capsys):
    with pytest.raises(SystemExit) as info:
        data_cli.main([])
    assert info.value.code == 2
    assert "emoji-people" in capsys.readouterr().err
