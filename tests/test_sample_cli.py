"""python -m model.sample: images, grid, sheet, interpolate, neighbours, audit on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from model.curate.cli import main
from model.data.kinds import Label
from model.errors import UserError
from model.nets.dcgan import Discriminator
from model.nets.weights import save_discriminator
from model.serve.guard import load_guard
from model.serve.reply import ServeOptions, serve
from model.serve.sampler import Sampler
from model.serve.seeds import Seed, SeedBook, load_seeds, save_seeds
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
    from model.curate.labels import kinds_of

    pictures = torch.stack([torch.full((3, 32, 32), v, dtype=torch.uint8) for v in (10, 240)])
    assert kinds_of(pictures, str(data), tmp_path / "cache") == ["dark", "light"]


# ---------------------------------------------------------------- labels from the data

# A stand-in for the built-in set: three emoji files, each one flat colour, named as
# model.data names them (so the kinds come from the names, as with the real set).
FAKE_EMOJI = {"0000_person-role_1F469-1F3FE-200D-1F373.png": (200, 40, 40),
              "0001_person-fantasy_1F9DC-200D-2640-FE0F.png": (40, 200, 40),
              "0002_person_1F476-1F3FB.png": (40, 40, 200)}


@pytest.fixture
def fake_emoji(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder holding a complete "emoji-people" of three pictures, used by default."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    folder = tmp_path / "xdg" / "human-image-bot" / "emoji-people"
    folder.mkdir(parents=True)
    for name, colour in FAKE_EMOJI.items():
        Image.new("RGB", (40, 40), colour).save(folder / name)
    (folder / "COMPLETE").write_text('{"images": 3}\n')
    return folder.parent


def test_labels_of_emoji_people_names_kind_subgroup_and_tone(fake_emoji: Path) -> None:
    from model.curate.labels import labels_of
    from model.data.images import load_dataset

    pictures = load_dataset("emoji-people", 32, fake_emoji).images.flip(0)  # exact matches
    assert labels_of(pictures, "emoji-people", fake_emoji) == [
        Label("baby", "person", "light", "nearest 0002_person_1F476-1F3FB.png"),
        Label("merperson", "person-fantasy", "",
              "nearest 0001_person-fantasy_1F9DC-200D-2640-FE0F.png"),
        Label("cook", "person-role", "medium-dark",
              "nearest 0000_person-role_1F469-1F3FE-200D-1F373.png")]


def test_labels_of_a_folder_are_its_sub_folders(tmp_path: Path) -> None:
    from model.curate.labels import labels_of

    data = tmp_path / "data"
    (data / "cooks").mkdir(parents=True)
    Image.new("RGB", (32, 32), (0, 0, 0)).save(data / "cooks" / "a.png")
    Image.new("RGB", (32, 32), (255, 255, 255)).save(data / "top.png")
    pictures = torch.stack([torch.full((3, 32, 32), v, dtype=torch.uint8) for v in (250, 5)])
    assert labels_of(pictures, str(data), tmp_path / "cache") == [
        Label("", "", "", "nearest top.png"), Label("cooks", "", "", "nearest cooks/a.png")]


def test_keep_carries_the_labels_of_a_sheet_made_with_kinds(seeded: Path, tmp_path: Path,
                                                            fake_emoji: Path) -> None:
    out = tmp_path / "s.png"
    assert main(["sheet", str(seeded), "--n", "12", "--out", str(out), "--kinds",
                 "emoji-people"]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    labels = [Label.from_dict(d) for d in side["labels"]]
    assert len(labels) == 12 and {x.kind for x in labels} <= {"cook", "merperson", "baby"}
    assert side["kinds"] == [x.kind for x in labels]
    assert all(x.source.startswith("nearest 000") for x in labels)
    seeds = seeded / "seeds.json"
    assert main(["keep", str(out.with_suffix(".json")), "5", "0", "--seeds", str(seeds)]) == 0
    assert main(["keep", str(out.with_suffix(".json")), "7", "--seeds", str(seeds),
                 "--note", "my favourite"]) == 0
    book = load_seeds(seeds, TINY.z_dim)
    assert [s.id for s in book.seeds] == [3, 7, 8, 9, 10]
    assert [s.label for s in book.seeds] == [None, None, labels[5], labels[0], labels[7]]
    assert [s.note for s in book.seeds[2:]] == [labels[5].kind, labels[0].kind,
                                                "my favourite"]


def test_keep_from_a_sheet_without_labels_keeps_no_label(seeded: Path, tmp_path: Path) -> None:
    assert main(["sheet", str(seeded), "--n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert main(["keep", str(tmp_path / "s.json"), "1", "--seeds",
                 str(seeded / "seeds.json")]) == 0
    assert load_seeds(seeded / "seeds.json", TINY.z_dim).get(8).label is None


def test_label_labels_only_the_unlabelled_seeds(seeded: Path, fake_emoji: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    seeds = seeded / "seeds.json"
    book = load_seeds(seeds, TINY.z_dim)
    mine = Label("vampire", "person-fantasy", "dark", "explorer")
    book.get(3).label = mine
    save_seeds(seeds, book)
    assert main(["label", str(seeded), "--data", "emoji-people"]) == 0
    after = load_seeds(seeds, TINY.z_dim)
    assert after.get(3).label == mine  # a label set by hand stays
    seven = after.get(7).label
    assert seven is not None and seven.kind in {"cook", "merperson", "baby"}
    from model.curate.labels import labels_of

    own = Sampler.load(seeded, "cpu").generate(after.get(7).tensor().reshape(1, -1))
    assert labels_of(own, "emoji-people") == [seven]  # from the seed's own picture
    assert "seed #7: " in capsys.readouterr().out
    assert json.loads((seeded / "seeds.json.bak").read_text())["seeds"][1].get("label") is None
    before = seeds.read_bytes()
    assert main(["label", str(seeded), "--data", "emoji-people"]) == 0
    assert "nothing to do" in capsys.readouterr().out and seeds.read_bytes() == before


def test_label_without_data_asks_for_it(seeded: Path) -> None:
    with pytest.raises(UserError, match="--data"):
        main(["label", str(seeded)])


def test_audit_ranks_every_seed_by_the_guards_mean_over_its_replies(seeded: Path,
                                                                    tmp_path: Path) -> None:
    torch.manual_seed(1)
    save_discriminator(seeded, Discriminator(TINY), TINY, {"fitted_for_serving": True})
    out = tmp_path / "audit"
    assert main(["audit", str(seeded), "--n", "3", "--out", str(out), "--per-board", "1",
                 "--best-of", "4", "--seed", "5"]) == 0
    record = json.loads((out / "audit.json").read_text())
    assert sorted(r["seed"] for r in record) == [3, 7]
    means = [r["mean_logit"] for r in record]
    assert means == sorted(means)  # worst first
    # each figure is that of replies the bot would send for those request ids, drawn again
    sampler, guard = Sampler.load(seeded, "cpu"), load_guard(seeded, "cpu")
    book = load_seeds(seeded / "seeds.json", TINY.z_dim)
    for r in record:
        assert r["request_ids"] == [f"audit-5-{r['seed']}-{i}" for i in range(3)]
        scores = [serve(sampler, book, rid, ServeOptions(best_of=4), guard, r["seed"]).score
                  for rid in r["request_ids"]]
        assert r["mean_logit"] == pytest.approx(sum(scores) / 3)
        assert r["lowest_logit"] == pytest.approx(min(scores))
    boards = sorted(out.glob("audit-*.png"))
    assert len(boards) == 2  # one seed per board
    assert Image.open(boards[0]).size == (150 + 3 * 194, 196)  # label, then 3 replies at 192


def test_audit_of_an_empty_seeds_file_says_how_to_get_seeds(tiny_weights: Path,
                                                            tmp_path: Path) -> None:
    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, []))
    with pytest.raises(UserError, match=r"holds no seeds to audit.*keep"):
        main(["audit", str(tiny_weights), "--out", str(tmp_path / "a")])
    assert not (tmp_path / "a").exists()
