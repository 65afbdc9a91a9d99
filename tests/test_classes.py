"""model.sample classes: a conditional generator's candidates class by class (each tone and
style of a kind), their replies, and seeds kept from them that draw in those classes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from model.curate.classes import candidates_of, class_labels
from model.curate.cli import main
from model.data.kinds import STYLES, TONES, Label
from model.errors import UserError
from model.nets.build import build_generator
from model.nets.weights import save_generator
from model.serve.latents import Latent
from model.serve.reply import ServeOptions, serve
from model.serve.sampler import Sampler
from model.serve.seeds import load_seeds
from model.train.cond import parse_cond
from tests.helpers import fastgan_config

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def styled_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random FastGAN conditioned on kind, tone and style, exported as training does
    (conditioning at full weight)."""
    cond = parse_cond("kind,tone,style")
    config = fastgan_config(32, cond=cond)
    torch.manual_seed(0)
    g = build_generator(config)
    g.cond_lambda = 1.0
    folder = tmp_path_factory.mktemp("styled") / "weights"
    save_generator(folder, g, config, {"cond": {n: list(c) for n, c in cond},
                                       "cond_lambda": 1.0})
    return folder


def test_each_tone_and_style_of_a_kind_gets_candidates_drawn_in_that_class(styled_weights,
                                                                          tmp_path, capsys):
    out = tmp_path / "classes"
    assert main(["classes", str(styled_weights), "--out", str(out), "--kinds", "cook",
                 "--per", "3", "--keep", "1", "--n", "2", "--best-of", "1"]) == 0
    record = json.loads((out / "classes-cook.json").read_text())
    labels = [Label.from_dict(d) for d in record["labels"]]
    assert {(lab.tone, lab.style) for lab in labels} == {
        (t, s) for t in ("", *TONES) for s in STYLES}
    assert {lab.kind for lab in labels} == {"cook"} and len(record["z"]) == 18
    assert (out / "classes-cook.png").is_file()
    # what the board shows is what the seed draws: kept, a seed serves in its classes
    seeds = tmp_path / "seeds.json"
    assert main(["keep", str(out / "classes-cook.json"), "4", "11", "--seeds", str(seeds)]) == 0
    sampler = Sampler.load(styled_weights, "cpu")
    book = load_seeds(seeds, sampler.z_dim)
    for seed, n in zip(book.seeds, (4, 11), strict=True):
        assert seed.label == labels[n]
        drawn = serve(sampler, book, f"r{n}", ServeOptions(best_of=1), None, seed.id)
        assert dict(drawn.classes) == {"kind": "cook", "tone": labels[n].tone,
                                       "style": labels[n].style}


def test_a_candidates_picture_is_its_latent_in_its_classes(styled_weights):
    sampler = Sampler.load(styled_weights, "cpu")
    label = Label("cook", "person-role", "dark", "class", "twemoji")
    [cand] = candidates_of(sampler, None, label, 2, 1, 2, ServeOptions(best_of=1), "t")
    at = Latent.of(torch.tensor(cand.z), label)
    assert torch.equal(cand.image, sampler.generate(
        at.tensor().reshape(1, -1), classes=at.indices(sampler.cond))[0])
    other = Latent.of(torch.tensor(cand.z), Label("cook", "", "dark", "", "fluent"))
    assert not torch.equal(cand.image, sampler.generate(
        other.tensor().reshape(1, -1), classes=other.indices(sampler.cond))[0])
    assert cand.replies.shape == (2, *cand.image.shape)


def test_class_labels_cover_what_the_generator_is_conditioned_on(styled_weights):
    labels = class_labels(Sampler.load(styled_weights, "cpu"), "mage")
    assert len(labels) == 6 * 3 and {lab.subgroup for lab in labels} == {"person-fantasy"}


def test_an_unknown_kind_or_an_unconditional_generator_is_one_line(styled_weights,
                                                                   tiny_weights, tmp_path):
    with pytest.raises(UserError, match="cannot draw kind 'zombie cook'; choose from"):
        main(["classes", str(styled_weights), "--out", str(tmp_path), "--kinds", "zombie cook"])
    with pytest.raises(UserError, match="not conditioned on kind; use sheet --kinds"):
        main(["classes", str(tiny_weights), "--out", str(tmp_path)])


def test_a_reply_of_a_styled_generator_is_drawn_in_its_seeds_style_and_says_so(
        styled_weights, tmp_path):
    from bot.drawing.artist import Artist, ArtistOptions

    out = tmp_path / "classes"
    main(["classes", str(styled_weights), "--out", str(out), "--kinds", "mage", "--per", "2",
          "--n", "1", "--best-of", "1"])
    record = json.loads((out / "classes-mage.json").read_text())
    styles = [d["style"] for d in record["labels"]]
    seeds = tmp_path / "seeds.json"
    main(["keep", str(out / "classes-mage.json"), str(styles.index("twemoji")),
          str(styles.index("fluent")), "--seeds", str(seeds)])
    artist = Artist(styled_weights, seeds, ArtistOptions(best_of=1, device="cpu"))
    twemoji, fluent = artist.seeds.seeds
    drawing = artist.draw("req-1", twemoji.id)
    assert dict(drawing.classes)["style"] == "twemoji" and drawing.style == "twemoji"
    assert "mage" in drawing.alt_text and "in the Twemoji style" in drawing.alt_text
    ja = artist.draw("req-1", fluent.id, lang="ja")
    assert "Fluent Flat風" in ja.alt_text
    # the pixels are the seed's neighbourhood drawn in twemoji, not in another style
    z = torch.tensor(drawing.z).reshape(1, -1)
    at = Latent(drawing.z, drawing.classes)
    as_drawn = artist.sampler.generate(z, classes=at.indices(artist.sampler.cond))
    restyled = Latent(drawing.z, {**drawing.classes, "style": "noto"})
    other = artist.sampler.generate(z, classes=restyled.indices(artist.sampler.cond))
    assert not torch.equal(as_drawn, other)
    assert artist.draw_near("req-2", drawing.latent, 2, 0.6)[0].style == "twemoji"
