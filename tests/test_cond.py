"""Class-conditional FastGAN with a transitional ramp (model.train.cond; issue 19, item 3): nothing
changes when it is off, the networks with labels, the projection, the ramp, labels from file
names and in batches, exact resume, the export card, and serving by class."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from model.data.images import Dataset
from model.data.kinds import Label
from model.errors import UserError
from model.nets.build import build_discriminator, build_generator, build_reconstructors
from model.nets.config import GANConfig
from model.nets.fastgan import latent_classes
from model.nets.weights import load_generator, save_generator
from model.serve.latents import Latent, plain_latents, request_rng, slerp
from model.serve.pictures import to_uint8
from model.serve.reply import ServeOptions, morph_frames, serve, serve_near
from model.serve.sampler import Sampler
from model.serve.seeds import Seed, SeedBook
from model.train.cond import (
    LABEL_SETS,
    cond_lambda,
    grid_classes,
    labels_of_names,
    parse_cond,
    parse_ramp,
    sample_labels,
    with_labels,
)
from model.train.distributed import SINGLE
from model.train.flags import Flags, config_from_args
from model.train.loop import train
from model.train.options import RunLimits, TrainConfig, preset_config
from model.train.state import load_training_state
from model.train.step import Batches
from tests.helpers import fastgan_config as _fast

FIXTURES = Path(__file__).resolve().parent / "fixtures"
COND = parse_cond("subgroup,tone")
# One emoji per subgroup; a tone's modifier goes after the first code point.
EMOJI = {"person": "1F9D1", "person-gesture": "1F646", "person-role": "1F9D1-200D-1F373",
         "person-fantasy": "1F9D9"}
MODIFIERS = {"light": "1F3FB", "medium-light": "1F3FC", "medium": "1F3FD",
             "medium-dark": "1F3FE", "dark": "1F3FF"}


pytestmark = pytest.mark.usefixtures("single_thread")


def emoji_name(i: int, subgroup: str, tone: str) -> str:
    first, *rest = EMOJI[subgroup].split("-")
    codes = [first, *([MODIFIERS[tone]] if tone else []), *rest]
    return f"{i:04d}_{subgroup}_{'-'.join(codes)}.png"


@pytest.fixture(scope="module")
def emoji_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 small pictures named like the built-in set: every subgroup in every tone, the
    figure's shape by subgroup and its colour by tone."""
    folder = tmp_path_factory.mktemp("emoji")
    i = 0
    for s, subgroup in enumerate(LABEL_SETS["subgroup"]):
        for t, tone in enumerate(LABEL_SETS["tone"]):
            img = Image.new("RGB", (40, 40), "white")
            draw = ImageDraw.Draw(img)
            skin = (255, 220 - 30 * t, 60 + 25 * t) if tone else (250, 200, 40)
            draw.ellipse([12, 4 + 2 * s, 28, 20 + 2 * s], fill=skin)
            draw.rectangle([10 + 2 * s, 22, 30 - 2 * s, 36], fill=(40 * s, 90, 200))
            img.save(folder / emoji_name(i, subgroup, tone))
            i += 1
    return folder


# ---------------------------------------------------------------- off: nothing changes


def test_an_unconditional_fastgan_keeps_the_state_dict_keys_it_had() -> None:
    recorded = json.loads((FIXTURES / "fastgan_state_keys.json").read_text())
    gan = preset_config("fastgan", "x").gan
    assert gan.cond == ()
    assert list(build_generator(gan).state_dict()) == recorded["generator"]
    assert list(build_discriminator(gan).state_dict()) == recorded["discriminator"]
    assert list(build_reconstructors(gan).state_dict()) == recorded["reconstructors"]


def test_conditioning_adds_its_embeddings_last_and_changes_no_other_weight() -> None:
    gan = preset_config("fastgan", "x").gan
    torch.manual_seed(0)
    plain = build_generator(gan).state_dict()
    torch.manual_seed(0)
    cond = build_generator(replace(gan, cond=COND)).state_dict()
    assert [k for k in cond if k not in plain] == ["embed.sets.subgroup.weight",
                                                   "embed.sets.tone.weight"]
    assert all(torch.equal(plain[k], cond[k]) for k in plain)
    d = build_discriminator(replace(gan, cond=COND)).state_dict()
    assert sorted({k.split(".")[1] for k in d if k.startswith("project.")}) == [
        "subgroup", "tone"]


@pytest.mark.parametrize(("name", "cfg"), [
    ("dcgan", GANConfig(z_dim=8, image_size=32, g_width=8, d_width=8)),
    ("fast", _fast(32, d_norm="batch", mbstd_group=4)),
])
def test_serving_an_unconditional_generator_draws_what_it_drew_before(
        tmp_path: Path, name: str, cfg: GANConfig) -> None:
    """A reply is still what serving was before model.train.cond existed, written out by hand: the
    request id's stream picks a seed (one draw), adds sigma noise, the generator draws it in
    eval mode; with no seeds, a latent of the plain prior. No class enters anywhere."""
    torch.manual_seed(0)
    save_generator(tmp_path / name, build_generator(cfg), cfg, {"images_seen": 0})
    sampler = Sampler.load(tmp_path / name, "cpu")
    book = SeedBook(cfg.z_dim, [Seed(1, [0.1] * cfg.z_dim, "",
                                     Label("cook", "person-role", "dark", "x")),
                                Seed(2, [-0.2] * cfg.z_dim)])
    for i, seeds in enumerate([book, SeedBook(cfg.z_dim)]):
        served = serve(sampler, seeds, f"mastodon:{i}", ServeOptions())
        rng = request_rng(f"mastodon:{i}")
        if seeds.seeds:
            seed = seeds.seeds[int(torch.randint(len(seeds.seeds), (1,), generator=rng))]
            z = seed.tensor().reshape(1, -1) + 0.5 * torch.randn(1, cfg.z_dim, generator=rng)
        else:
            z = torch.randn(1, cfg.z_dim, generator=rng)
        with torch.inference_mode():
            by_hand = to_uint8(sampler.generator(z))[0]
        assert torch.equal(served.z, z[0]) and torch.equal(served.image, by_hand)


def test_an_unconditional_generator_refuses_classes(tiny_weights: Path) -> None:
    sampler = Sampler.load(tiny_weights, "cpu")
    assert sampler.cond == {}
    with pytest.raises(ValueError, match="unconditional"):
        sampler.generate(torch.randn(2, 8), classes=torch.zeros(2, 2, dtype=torch.int64))


# ---------------------------------------------------------------- the networks


@pytest.mark.parametrize("size", [64, 128])
def test_generator_and_discriminator_take_one_class_per_label_set(size: int) -> None:
    cfg = _fast(size, cond=COND, d_norm="batch", mbstd_group=4)
    torch.manual_seed(0)
    g, d = build_generator(cfg), build_discriminator(cfg).eval()
    classes = torch.tensor([[0, 0], [3, 5], [1, 2]])
    x = g(torch.randn(3, 16), classes)
    assert x.shape == (3, 3, size, size)
    logits, feats = d.features(x, classes)
    assert logits.shape == (3,) and feats[8].shape[0] == 3
    assert torch.equal(logits, d(x, classes))
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        g(torch.randn(3, 16), classes[:, :1])


def test_the_projection_is_the_class_embeddings_dot_the_summed_head_features() -> None:
    cfg = _fast(32, cond=COND, spectral_norm=False)
    torch.manual_seed(0)
    d = build_discriminator(cfg).eval()
    with torch.no_grad():  # embeddings a hand can follow: subgroup c -> c+1, tone t -> -t
        for c in range(4):
            d.project["subgroup"].weight[c] = c + 1.0
        for t in range(6):
            d.project["tone"].weight[t] = -float(t)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    classes = torch.tensor([[2, 1], [0, 4]])
    d.cond_lambda = 0.5
    with torch.no_grad():
        logits, feats = d.features(x, classes)
        h = d.head[:-1](d.mbstd(feats[4]))  # (2, w4, 4, 4): what the head's last conv reads
        plain = d.head[-1](h).flatten()
    total = h.sum(dim=(1, 2, 3))  # each embedding is constant, so <e, phi> = e * sum(phi)
    by_hand = torch.stack([0.5 * (3 - 1) * total[0], 0.5 * (1 - 4) * total[1]])
    assert torch.allclose(logits - plain, by_hand, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(logits, plain)


def test_at_lambda_zero_the_networks_are_exactly_the_unconditional_ones() -> None:
    plain_cfg = _fast(64, d_norm="batch", mbstd_group=4)
    nets = []
    for cfg in (plain_cfg, replace(plain_cfg, cond=COND)):
        for build in (build_generator, build_discriminator):
            torch.manual_seed(0)  # the shared weights come out equal (the cond parts last)
            nets.append(build(cfg).eval())
    g0, d0, g1, d1 = nets
    z, classes = torch.randn(4, 16), torch.tensor([[0, 1], [1, 2], [2, 3], [3, 5]])
    with torch.no_grad():
        for lam, same in ((0.0, True), (1.0, False)):
            g1.cond_lambda = d1.cond_lambda = lam
            images = g1(z, classes)
            assert torch.equal(images, g0(z)) is same
            assert torch.equal(d1(images, classes), d0(images)) is same
        assert torch.equal(d1(images), d0(images))  # no classes: the unconditional logit


def test_a_generator_given_no_classes_draws_them_from_each_latent() -> None:
    z = torch.randn(64, 16)
    classes = latent_classes(z, (4, 6))
    assert classes.shape == (64, 2) and torch.equal(classes, latent_classes(z.clone(), (4, 6)))
    assert set(classes[:, 0].tolist()) == {0, 1, 2, 3} and classes[:, 1].max() <= 5
    assert torch.equal(latent_classes(z[5:6], (4, 6)), classes[5:6])  # per latent, not batch
    torch.manual_seed(0)
    g = build_generator(_fast(32, cond=COND)).eval()
    with torch.no_grad():
        assert torch.equal(g(z[:4]), g(z[:4], classes[:4]))


def test_grids_have_a_subgroup_per_row_and_a_tone_per_column() -> None:
    grid = grid_classes(COND)
    assert grid.shape == (64, 2) and grid_classes(()) is None
    assert grid[:8, 0].tolist() == [0] * 8 and grid[8:16, 0].tolist() == [1] * 8
    assert grid[:8, 1].tolist() == [0, 1, 2, 3, 4, 5, 0, 1]
    # 55 kinds on 8 rows: spread over all of them, in order, not the first 8 (plain people).
    kinds = grid_classes(parse_cond("kind,tone"))[::8, 0].tolist()
    assert kinds == sorted(set(kinds)) and len(kinds) == 8
    assert kinds[0] == 0 and kinds[-1] >= len(LABEL_SETS["kind"]) - 7


# ---------------------------------------------------------------- the ramp and the flags


def test_the_ramp_is_a_pure_function_of_kimg() -> None:
    ramp = TrainConfig.cond_ramp
    assert ramp == (20.0, 100.0)
    assert [cond_lambda(k, ramp) for k in (0, 20, 40, 60, 100, 700)] == [
        0.0, 0.0, 0.25, 0.5, 1.0, 1.0]
    assert [cond_lambda(k, (5.0, 5.0)) for k in (4.999, 5.0)] == [0.0, 1.0]  # a step
    assert parse_ramp("0, 200") == (0.0, 200.0)
    for bad in ("100,20", "-1,5", "20", "a,b"):
        with pytest.raises(UserError, match="--cond-ramp"):
            parse_ramp(bad)


def _flags(**kw) -> Flags:
    return Flags(**{"data": "emoji-people", "out": Path("runs/x"), **kw})


def test_cond_is_off_by_default_and_the_flags_set_it_for_fastgan_only() -> None:
    off = config_from_args(_flags(preset="fastgan"), None)
    assert off.gan.cond == () and off.to_dict()["gan"]["cond"] == []
    on = config_from_args(_flags(preset="fastgan", cond="subgroup,tone", cond_ramp="0,50"),
                          None)
    assert on.gan.cond == COND and on.cond_ramp == (0.0, 50.0)
    assert TrainConfig.from_dict(json.loads(json.dumps(on.to_dict()))) == on
    with pytest.raises(UserError, match="--preset fastgan") as err:
        config_from_args(_flags(cond="tone"), None)
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="unknown label set 'colour'"):
        config_from_args(_flags(preset="fastgan", cond="colour"), None)
    assert parse_cond("none") == ()
    with pytest.raises(UserError, match="add --cond"):
        config_from_args(_flags(preset="fastgan", cond_ramp="0,50"), None)


# ---------------------------------------------------------------- labels


def test_labels_come_from_the_built_in_file_names() -> None:
    names = ["0123_person-role_1F469-1F3FB-200D-1F373.png", "dir/0007_person-fantasy_1F9D9.png",
             emoji_name(3, "person-gesture", "dark")]
    assert labels_of_names(names, COND, "x").tolist() == [[2, 1], [3, 0], [1, 5]]
    assert labels_of_names(names, parse_cond("tone"), "x").tolist() == [[1], [0], [5]]
    kinds = LABEL_SETS["kind"]  # every kind of kinds.json: a seed's kind label is its class
    assert labels_of_names(names, parse_cond("kind,tone"), "x").tolist() == [
        [kinds.index("cook"), 1], [kinds.index("mage"), 0], [kinds.index("person gesturing OK"), 5]]
    data = Dataset(torch.zeros(3, 3, 4, 4, dtype=torch.uint8), "h", "mine", tuple(names))
    assert with_labels(data, COND).labels.tolist() == [[2, 1], [3, 0], [1, 5]]
    with pytest.raises(UserError, match=r"holds 'cat\.png'.*--data emoji-people") as err:
        labels_of_names(["cat.png"], COND, "mine")
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="file names"):
        with_labels(replace(data, names=None), COND)


def test_batches_draw_each_image_with_its_label_and_fakes_in_the_datas_balance() -> None:
    n = 24
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 3, 4, 4).clone()
    labels = torch.stack([torch.arange(n) % 4, torch.arange(n) % 6], dim=1)
    batches = Batches(images, 8, 0, SINGLE, labels=labels)
    torch.manual_seed(0)
    for _ in range(4):  # across an epoch's end
        real, got, _ = batches.next_labelled()
        index = ((real[:, 0, 0, 0] + 1) * 127.5).round().long()  # flips keep the pixel
        assert torch.equal(got, labels[index])
    skewed = torch.tensor([[3, 0]] * 3 + [[0, 5]])  # three fantasy to one person
    fakes = sample_labels(skewed, 4000, torch.Generator().manual_seed(0))
    assert abs((fakes[:, 0] == 3).float().mean().item() - 0.75) < 0.03
    assert {tuple(r) for r in fakes.tolist()} == {(3, 0), (0, 5)}  # joint: real rows only
    assert Batches(images, 8, 0, SINGLE).fake_labels(8) is None


# ---------------------------------------------------------------- a run end to end


@pytest.fixture(scope="module")
def cond_runs(emoji_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """4 steps straight, and 2 steps + a resume to 4, of a conditional FastGAN whose ramp
    runs through those steps (lambda 0, 0.25, 0.5, 0.75)."""
    tmp = tmp_path_factory.mktemp("cond-runs")
    cfg = replace(preset_config("fastgan", str(emoji_dir)), batch=8, lecam=0.1,
                  cond_ramp=(0.0, 0.032), gan=_fast(32, z_dim=8, d_norm="batch",
                                                    mbstd_group=4, cond=COND))

    def run(out: Path, steps: int, resume: bool = False) -> dict:
        train(cfg, out, RunLimits(kimg=steps * 8 / 1000, ckpt_minutes=60, eval_n=16),
              resume=resume, device=torch.device("cpu"), cache_dir=tmp / "cache",
              show_progress=False, channels_last=False)
        return load_training_state(out / "ckpt.pt")

    straight = run(tmp / "a", 4)
    run(tmp / "b", 2)
    return {"straight": straight, "resumed": run(tmp / "b", 4, resume=True), "out": tmp / "b"}


def test_a_conditional_run_resumes_exactly(cond_runs: dict) -> None:
    straight, resumed = cond_runs["straight"], cond_runs["resumed"]
    assert straight["step"] == resumed["step"] == 4
    for part in ("G", "D", "ema", "recon"):
        for key, value in straight[part].items():
            assert torch.equal(value, resumed[part][key]), f"{part}.{key}"
    assert torch.equal(straight["lecam_avg"], resumed["lecam_avg"])
    torch.manual_seed(0)  # build_models' seed: the embeddings as they started
    start = build_generator(GANConfig.from_dict(straight["config"]["gan"])).state_dict()
    for key in ("embed.sets.subgroup.weight", "embed.sets.tone.weight"):
        assert not torch.equal(start[key], straight["G"][key]), key  # the ramp let them learn
    assert not any("lambda" in k for k in straight)  # derived from kimg, saved nowhere
    rows = [json.loads(r) for r in (cond_runs["out"] / "log.jsonl").read_text().splitlines()]
    assert [r["cond_lambda"] for r in rows] == [0.0, 0.25, 0.5, 0.75]


def test_the_export_card_records_the_label_sets_and_the_ramps_value(cond_runs: dict) -> None:
    g, card = load_generator(cond_runs["out"])
    assert card["cond"] == {"subgroup": list(LABEL_SETS["subgroup"]),
                            "tone": list(LABEL_SETS["tone"])}
    assert card["cond_lambda"] == 1.0 and g.cond_lambda == 1.0  # 32 images: past the ramp
    assert card["config"]["cond"] == [["subgroup", list(LABEL_SETS["subgroup"])],
                                      ["tone", list(LABEL_SETS["tone"])]]
    assert card["training"]["cond_ramp"] == [0.0, 0.032]


def test_sampler_generate_draws_the_classes_it_is_given(cond_runs: dict) -> None:
    sampler = Sampler.load(cond_runs["out"], "cpu")
    assert list(sampler.cond) == ["subgroup", "tone"]
    z = torch.randn(1, 8).expand(6, 8)
    tones = sampler.generate(z, classes=torch.tensor([[3, t] for t in range(6)]))
    assert tones.shape == (6, 3, 32, 32)
    assert len({hashlib.sha256(img.numpy().tobytes()).digest() for img in tones}) == 6
    assert torch.equal(sampler.generate(z[:2]), sampler.generate(
        z[:2], classes=latent_classes(z[:2], (4, 6))))
    for bad in (torch.tensor([[4, 0]]), torch.tensor([[0, 6]]), torch.tensor([[-1, 0]])):
        with pytest.raises(ValueError, match=r"class indices must be below \[4, 6\]"):
            sampler.generate(z[:1], classes=bad)
    with pytest.raises(ValueError, match=r"classes must be \(1, 2\)"):
        sampler.generate(z[:1], classes=torch.tensor([[0]]))


def test_serving_draws_the_good_seeds_subgroup_and_tone(cond_runs: dict) -> None:
    sampler = Sampler.load(cond_runs["out"], "cpu")
    fantasy_dark = Label("mage", "person-fantasy", "dark", "x")
    book = SeedBook(8, [Seed(1, [0.3] * 8, "", fantasy_dark)])
    served = serve(sampler, book, "mastodon:7", ServeOptions())
    drawn = sampler.generate(served.z.reshape(1, -1), classes=torch.tensor([[3, 5]]))
    assert torch.equal(served.image, drawn[0]) and served.label == fantasy_dark
    # An unlabelled seed: the classes its own latent draws (what the explorer showed).
    unlabelled = serve(sampler, SeedBook(8, [Seed(1, [0.3] * 8)]), "mastodon:8", ServeOptions())
    own = latent_classes(torch.full((1, 8), 0.3), (4, 6))
    assert torch.equal(unlabelled.image, sampler.generate(unlabelled.z.reshape(1, -1),
                                                          classes=own)[0])
    # No seed at all: classes from the request's rng, drawn before the latent.
    rng = request_rng("mastodon:10")
    drawn = torch.tensor([[int(torch.randint(n, (1,), generator=rng)) for n in (4, 6)]])
    z = plain_latents(1, 8, rng)
    prior = serve(sampler, SeedBook(8), "mastodon:10", ServeOptions())
    assert torch.equal(prior.z, z[0])
    assert torch.equal(prior.image, sampler.generate(z, classes=drawn)[0])
    # Every picture carries the classes it was drawn in, and more like it keeps them.
    assert served.classes == {"subgroup": "person-fantasy", "tone": "dark"}
    assert served.latent == Latent(tuple(served.z.tolist()), served.classes)
    near = serve_near(sampler, served.latent, "mastodon:9", 2, ServeOptions())
    both = sampler.generate(torch.stack([p.z for p in near]), classes=torch.tensor([[3, 5]] * 2))
    assert torch.equal(torch.stack([p.image for p in near]), both)
    assert [p.classes for p in near] == [served.classes] * 2


def same_pixels(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Two uint8 pictures of one latent drawn in batches of different sizes: CPU kernels pick
    their algorithm by batch size, so the floats may differ in the last bits and a pixel may
    round one level apart; anything more is another picture."""
    return a.shape == b.shape and (a.int() - b.int()).abs().max().item() <= 1


def png_pixels(url: str) -> torch.Tensor:
    """A PNG data URL -> uint8 (C, S, S)."""
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)


def test_a_morph_goes_from_the_pictures_classes_to_the_seeds(cond_runs: dict) -> None:
    """Both ends are their own pictures, each in its own classes; the frames between blend
    the two class embeddings (neither end's classes throughout)."""
    sampler = Sampler.load(cond_runs["out"], "cpu")
    a = Latent.of(torch.randn(8), Label("mage", "person-fantasy", "dark"))
    b = Latent.of(torch.randn(8), Label("cook", "person-role", "light"))
    frames = morph_frames(sampler, a, b, 5)
    assert same_pixels(frames[0], sampler.generate(a.tensor()[None], classes=torch.tensor(
        [[3, 5]]))[0])
    assert same_pixels(frames[-1], sampler.generate(b.tensor()[None], classes=torch.tensor(
        [[2, 1]]))[0])
    path = slerp(a.tensor(), b.tensor(), torch.linspace(0.0, 1.0, 5))
    middle = frames[2].float()
    for fixed in ([[3, 5]], [[2, 1]]):  # one end's classes all the way: not what is drawn
        drawn = sampler.generate(path[2:3], classes=torch.tensor(fixed))[0].float()
        assert (middle - drawn).abs().mean() > 0.5


def test_the_explorer_shows_a_seed_in_its_labels_classes(cond_runs: dict,
                                                         tmp_path: Path) -> None:
    """A conditional generator draws a labelled seed in its label's classes, in the bot and
    in the explorer alike: a relabelled seed's thumbnail and neighbours show what it draws."""
    from model.explore.explorer import Explorer

    sampler = Sampler.load(cond_runs["out"], "cpu")
    explorer = Explorer(sampler, tmp_path / "seeds.json")
    z = [0.3] * 8
    seed = explorer.add_seed(z, "", Label("mage", "person-fantasy", "dark", "x"))

    def url(classes: list[int]) -> str:
        return explorer.data_urls([z], classes=torch.tensor([classes]))[0]

    assert explorer.seed_urls([seed]) == [url([3, 5])]
    relabelled = explorer.set_label(seed.id, Label("cook", "person-role", "light", "explorer"))
    assert explorer.seed_urls([relabelled]) == [url([2, 1])] != [url([3, 5])]
    near = explorer.neighbours(seed.id, 2, 0.5, 7)
    assert explorer.neighbour_urls(seed.id, 2, 0.5, 7) == explorer.data_urls(
        near, classes=torch.tensor([[2, 1]] * 2))
    other = explorer.add_seed([-0.4] * 8, "", Label("vampire", "person-fantasy", "", "x"))
    # from the cook to the vampire as the bot's morph: each end in its own classes
    frames = explorer.strip_pictures(seed.id, other.id, 3)
    assert torch.equal(frames, morph_frames(sampler, relabelled.latent(), other.latent(), 3))
    assert same_pixels(frames[0], png_pixels(url([2, 1])))
    assert same_pixels(frames[2], png_pixels(explorer.data_urls(
        [[-0.4] * 8], classes=torch.tensor([[3, 0]]))[0]))
    unlabelled = explorer.set_label(seed.id, None)  # its latent's own classes, as served
    assert explorer.seed_urls([unlabelled]) == explorer.data_urls([z])


def test_the_explorer_draws_its_sliders_as_the_new_seeds_label(cond_runs: dict,
                                                                tmp_path: Path) -> None:
    """A conditional generator's own classes are a hash of the latent: every slider step
    would draw another kind. The page's label fields hold the kind and tone instead."""
    from fastapi.testclient import TestClient

    from model.explore.app import create_app
    from model.explore.explorer import Explorer

    explorer = Explorer(Sampler.load(cond_runs["out"], "cpu"), tmp_path / "seeds.json")
    z = [0.3] * 8
    cook_light = Label("cook", "person-role", "light", "explorer")
    assert torch.equal(explorer.drawn_as(cook_light, [z, z]), torch.tensor([[2, 1]] * 2))
    assert explorer.drawn_as(None, [z]) is None
    client = TestClient(create_app(explorer))
    asked = client.post("/api/render", json={"z": z, "kind": "cook", "tone": "light"})
    assert asked.content == explorer.png(z, label=cook_light) != explorer.png(z)
    assert client.post("/api/render", json={"z": z}).content == explorer.png(z)
    assert client.post("/api/render", json={"z": z, "tone": "none"}).content == explorer.png(z)
    grid = client.get("/api/random?n=2&seed=3&kind=cook&tone=light").json()
    assert grid["images"] == explorer.data_urls(
        grid["z"], classes=torch.tensor([[2, 1]] * 2))
    bad = client.post("/api/render", json={"z": z, "tone": "purple"})
    assert bad.status_code == 422 and "purple" in bad.json()["detail"]
