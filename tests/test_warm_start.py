"""Fine-tuning with --init-from: a run starts from another run's weights, fresh otherwise."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from model.errors import UserError
from model.train.__main__ import main as train_main
from model.train.cond import parse_cond
from model.train.loop import train
from model.train.options import RunLimits, preset_config
from model.train.state import load_training_state
from model.train.step import build_models
from model.train.warm_start import warm_start
from tests.helpers import fastgan_config

pytestmark = pytest.mark.usefixtures("single_thread")

# Two kinds (cook, vampire) in two tones, named like the built-in set.
EMOJI = ["person-role_1F9D1-200D-1F373", "person-role_1F9D1-1F3FF-200D-1F373",
         "person-fantasy_1F9DB", "person-fantasy_1F9DB-1F3FF"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """8 pictures named like emoji, and an unconditional run of 2 steps on them."""
    tmp = tmp_path_factory.mktemp("warm")
    data = tmp / "data"
    data.mkdir()
    for i in range(8):
        img = Image.new("RGB", (32, 32), "white")
        ImageDraw.Draw(img).ellipse([4 + i, 4, 26, 26], fill=(200 - 20 * i, 120, 40 + 20 * i))
        img.save(data / f"{i:04d}_{EMOJI[i % 4]}.png")
    cfg = _cfg(data)
    train(cfg, tmp / "source", _limits(2), device=torch.device("cpu"), cache_dir=tmp / "cache",
          show_progress=False, channels_last=False)
    return {"data": data, "source": tmp / "source", "tmp": tmp}


def _cfg(data: Path, **gan):  # type: ignore[no-untyped-def]
    return replace(preset_config("fastgan", str(data)), batch=4,
                   gan=fastgan_config(32, z_dim=8, d_norm="batch", mbstd_group=2, **gan))


def _limits(steps: int) -> RunLimits:
    return RunLimits(kimg=steps * 4 / 1000, ckpt_minutes=60, eval_n=8)


def test_a_conditional_run_starts_from_an_unconditional_runs_weights(folders: dict) -> None:
    source = load_training_state(folders["source"] / "ckpt.pt")
    cfg = _cfg(folders["data"], cond=parse_cond("kind,tone"))
    m = build_models(cfg, torch.device("cpu"), channels_last=False)
    torch.manual_seed(cfg.seed)  # the fresh embeddings, as build_models drew them
    fresh = {k: v.clone() for k, v in m.G.state_dict().items()}
    started = warm_start(m, folders["source"])
    assert started["images_seen"] == source["images_seen"] == 8
    for part, net in (("G", m.G), ("D", m.D), ("ema", m.ema), ("recon", m.recon)):
        mine = net.state_dict()
        for key, value in source[part].items():
            assert torch.equal(mine[key], value), f"{part}.{key}"
    new = [k for k in m.G.state_dict() if k not in source["G"]]
    assert new == ["embed.sets.kind.weight", "embed.sets.tone.weight"]
    for key in new:  # the class embeddings keep their initialisation
        assert torch.equal(m.G.state_dict()[key], fresh[key])
    assert set(started["new"]) >= set(new) and all(
        k.startswith(("embed.", "project.")) for k in started["new"])
    assert not m.opt_g.state and not m.opt_d.state  # the optimisers start fresh


@pytest.fixture(scope="module")
def fine(folders: dict) -> Path:
    """3 steps of a kind,tone run warm-started from the source, its ramp done in 2."""
    out = folders["tmp"] / "fine"
    cfg = replace(_cfg(folders["data"], cond=parse_cond("kind,tone")), cond_ramp=(0.0, 0.008),
                  init_from=str(folders["source"]))
    train(cfg, out, _limits(3), device=torch.device("cpu"), cache_dir=folders["tmp"] / "cache",
          show_progress=False, channels_last=False)
    return out


def test_a_warm_started_run_counts_from_zero_and_records_its_source(folders: dict,
                                                                   fine: Path) -> None:
    out = fine
    state = load_training_state(out / "ckpt.pt")
    assert state["step"] == 3 and state["images_seen"] == 12  # not 8 + 12
    options = json.loads((out / "options.json").read_text())
    assert options["config"]["init_from"] == str(folders["source"])
    lambdas = [json.loads(r)["cond_lambda"] for r in (out / "log.jsonl").read_text().splitlines()]
    assert lambdas == [0.0, 0.5, 1.0]  # the ramp counts from the warm start


@pytest.mark.parametrize(("preset", "match"), [
    ("fastgan", r"is \(.*\) there and \(.*\) here; use the source's --width"),  # z 40, not 8
    ("default", r"this run's does not \(another architecture"),
])
def test_weights_that_do_not_fit_are_one_line_and_nothing_is_written(
        folders: dict, preset: str, match: str) -> None:
    out = folders["tmp"] / f"bad-{preset}"
    args = ["--data", str(folders["data"]), "--out", str(out), "--preset", preset,
            "--init-from", str(folders["source"]), "--kimg", "0.008", "--batch", "4", "--cache-dir",
            str(folders["tmp"] / "cache")]
    with pytest.raises(UserError, match=match) as err:
        train_main(args)
    assert "\n" not in str(err.value)
    assert not (out / "ckpt.pt").exists() and not (out / "options.json").exists()


def test_a_folder_without_a_run_is_refused(folders: dict, tmp_path: Path) -> None:
    m = build_models(_cfg(folders["data"]), torch.device("cpu"), channels_last=False)
    before = {k: v.clone() for k, v in m.G.state_dict().items()}
    with pytest.raises(UserError, match=r"no checkpoint there .*ckpt\.pt.*name the folder"):
        warm_start(m, tmp_path)
    assert all(torch.equal(v, m.G.state_dict()[k]) for k, v in before.items())


def test_a_kind_conditional_generators_candidates_are_labelled_by_their_class(
        fine: Path, tmp_path: Path) -> None:
    """model.sample sheet --kinds and label: each latent's label is the kind and tone it is
    drawn in (what the bot will draw it as), not its nearest training picture."""
    from model.curate.labels import drawn_labels, label_seeds
    from model.data.kinds import load_kinds
    from model.nets.fastgan import latent_classes
    from model.serve.sampler import Sampler
    from model.serve.seeds import Seed, SeedBook, load_seeds, save_seeds

    sampler = Sampler.load(fine, "cpu")
    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    classes = latent_classes(z, tuple(len(c) for c in sampler.cond.values())).tolist()
    labels = drawn_labels(sampler, z, sampler.generate(z), None)
    kinds = load_kinds()
    for (k, t), label in zip(classes, labels, strict=True):
        assert label.kind == sampler.cond["kind"][k] and label.tone == sampler.cond["tone"][t]
        assert label.subgroup == kinds.get(label.kind).subgroup
        assert label.source == "class kind,tone"
    seeds = tmp_path / "seeds.json"
    save_seeds(seeds, SeedBook(8, [Seed(1, z[0].tolist())]))
    label_seeds(fine, None, seeds, "cpu")  # no --data needed: the classes say it all
    [seed] = load_seeds(seeds, 8).seeds
    stored = seed.tensor().reshape(1, -1)  # as saved: the classes of the latent served
    assert seed.label == drawn_labels(sampler, stored, sampler.generate(stored), None)[0]
