"""python -m model.sample: images, grid, sheet, interpolate, neighbours on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from model.errors import UserError
from model.sample import main
from model.sampler import Seed, SeedBook, save_seeds
from tests.helpers import TINY


@pytest.fixture
def seeded(tiny_weights: Path) -> Path:
    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, [
        Seed(3, [0.5] * TINY.z_dim, "a"), Seed(7, [-0.5, 1.0] * (TINY.z_dim // 2), "b")]))
    return tiny_weights


def test_images_near_seeds_name_their_seed(seeded: Path, tmp_path: Path) -> None:
    assert main(["images", str(seeded), "--n", "5", "--out", str(tmp_path / "o"),
                 "--near-seeds", "--scale", "2"]) == 0
    files = sorted((tmp_path / "o").glob("*.png"))
    assert len(files) == 5 and all("_seed3" in f.name or "_seed7" in f.name for f in files)
    assert Image.open(files[0]).size == (64, 64)


def test_sheet_saves_the_latents_beside(seeded: Path, tmp_path: Path) -> None:
    assert main(["sheet", str(seeded), "--n", "20", "--out", str(tmp_path / "s.png")]) == 0
    side = json.loads((tmp_path / "s.json").read_text())
    assert side["z_dim"] == TINY.z_dim and len(side["z"]) == 20
    assert Image.open(tmp_path / "s.png").width > 16 * 32


def test_interpolate_writes_a_gif_and_neighbours_a_sheet(seeded: Path, tmp_path: Path) -> None:
    assert main(["interpolate", str(seeded), "3", "7", "--n", "6",
                 "--out", str(tmp_path / "i.gif")]) == 0
    gif = Image.open(tmp_path / "i.gif")
    assert gif.format == "GIF" and gif.n_frames >= 6  # 6 there, 4 back (equal ones merge)
    assert main(["neighbours", str(seeded), "7", "--n", "8",
                 "--out", str(tmp_path / "n.png")]) == 0
    assert Image.open(tmp_path / "n.png").size[0] > 8 * 32


def test_unknown_seed_id_names_the_known_ones(seeded: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no seed #9 .*known: 3, 7"):
        main(["neighbours", str(seeded), "9", "--out", str(tmp_path / "n.png")])


def test_keep_turns_sheet_numbers_into_seeds(seeded: Path, tmp_path: Path) -> None:
    assert main(["sheet", str(seeded), "--n", "10", "--out", str(tmp_path / "s.png")]) == 0
    side = json.loads((tmp_path / "s.json").read_text())
    seeds = seeded / "seeds.json"
    assert main(["keep", str(tmp_path / "s.json"), "4", "2", "4", "--seeds", str(seeds),
                 "--note", "waving"]) == 0
    book = json.loads(seeds.read_text())["seeds"]
    assert [s["id"] for s in book] == [3, 7, 8, 9]  # new ids after the last, each once
    assert [s["z"] for s in book[2:]] == [side["z"][4], side["z"][2]]
    assert book[2]["note"] == "waving" and (seeded / "seeds.json.bak").is_file()
    main(["keep", str(tmp_path / "s.json"), "4", "--seeds", str(seeds)])  # already kept
    assert len(json.loads(seeds.read_text())["seeds"]) == 4
    with pytest.raises(UserError, match=r"no candidate 10 .*0 to 9"):
        main(["keep", str(tmp_path / "s.json"), "10", "--seeds", str(seeds)])


def test_sheet_by_kind_labels_candidates_by_their_nearest_picture(seeded: Path,
                                                                  tmp_path: Path) -> None:
    data = tmp_path / "data"  # two kinds, one dark and one light picture each
    (data / "dark").mkdir(parents=True)
    (data / "light").mkdir()
    Image.new("RGB", (32, 32), (0, 0, 0)).save(data / "dark" / "a.png")
    Image.new("RGB", (32, 32), (255, 255, 255)).save(data / "light" / "b.png")
    out = tmp_path / "s.png"
    assert main(["sheet", str(seeded), "--n", "12", "--out", str(out), "--kinds",
                 str(data)]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert len(side["kinds"]) == 12 and set(side["kinds"]) <= {"dark", "light"}
    for kind in set(side["kinds"]):
        assert (tmp_path / f"s-{kind}.png").is_file()
    from model.sample import kinds_of

    pictures = torch.stack([torch.full((3, 32, 32), v, dtype=torch.uint8) for v in (10, 240)])
    assert kinds_of(pictures, str(data), tmp_path / "cache") == ["dark", "light"]
