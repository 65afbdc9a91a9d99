"""The exported generator and the training state: round trips and one-line errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from model.errors import UserError
from model.nets.config import GANConfig
from model.nets.dcgan import Generator
from model.nets.weights import CARD_FILE, WEIGHTS_FILE, load_generator, save_generator
from model.train.state import load_training_state, save_training_state
from tests.helpers import TINY


def test_generator_round_trip_keeps_weights_batchnorm_and_card(tmp_path: Path) -> None:
    torch.manual_seed(1)
    g = Generator(TINY)
    g.train()
    g(torch.randn(16, TINY.z_dim))  # move the BatchNorm running statistics off their init
    save_generator(tmp_path, g, TINY, {"images_seen": 1234})
    loaded, card = load_generator(tmp_path)
    assert card["images_seen"] == 1234 and card["config"] == TINY.to_dict()
    assert not loaded.training
    for (k, a), (_, b) in zip(g.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    z = torch.randn(4, TINY.z_dim)
    g.eval()
    assert torch.equal(g(z), loaded(z))


def test_config_travels_in_the_weights_file_without_the_card(tiny_weights: Path) -> None:
    (tiny_weights / CARD_FILE).unlink()
    g, card = load_generator(tiny_weights)
    assert card == {} and g.config == TINY


def test_truncated_weights_give_one_line_error(tiny_weights: Path) -> None:
    path = tiny_weights / WEIGHTS_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(UserError, match="truncated or corrupt") as err:
        load_generator(tiny_weights)
    assert "\n" not in str(err.value)


def test_weights_that_do_not_match_their_config_are_refused(tiny_weights: Path) -> None:
    other = Generator(GANConfig(z_dim=8, image_size=32, g_width=16, d_width=8))
    meta = {"format": "1", "config": json.dumps(TINY.to_dict())}  # claims g_width 8
    save_file(other.state_dict(), str(tiny_weights / WEIGHTS_FILE), meta)
    with pytest.raises(UserError, match="does not match its config") as err:
        load_generator(tiny_weights)
    assert "\n" not in str(err.value)


def test_missing_weights_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no generator\.safetensors in"):
        load_generator(tmp_path)


def test_training_state_round_trip_and_refuses_pickled_objects(tmp_path: Path) -> None:
    state = {"G": {"w": torch.arange(3.0)}, "step": 7, "rng": [{"cpu": torch.get_rng_state()}]}
    save_training_state(tmp_path / "ckpt.pt", state)
    back = load_training_state(tmp_path / "ckpt.pt")
    assert back["step"] == 7 and torch.equal(back["G"]["w"], torch.arange(3.0))

    class Evil:
        def __reduce__(self) -> tuple[object, ...]:
            return (print, ("this must never run",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"x": Evil()}, protocol=2))
    with pytest.raises(UserError, match="cannot be read"):
        load_training_state(tmp_path / "evil.pt")


def test_atomic_save_leaves_the_old_file_when_writing_fails(tiny_weights: Path) -> None:
    before = (tiny_weights / WEIGHTS_FILE).read_bytes()
    g = Generator(TINY)
    with pytest.raises(TypeError):
        save_generator(tiny_weights, g, TINY, {"bad": object()})  # the card cannot be JSON
    assert (tiny_weights / WEIGHTS_FILE).read_bytes() == before
    assert not list(tiny_weights.glob(".*.tmp"))
    json.loads((tiny_weights / CARD_FILE).read_text())  # the old card is intact


def test_unservable_cards_are_named_and_good_ones_pass() -> None:
    from model.nets.weights import NOISE_SWD, unservable_reason

    shipped = json.loads((Path(__file__).parent.parent / "weights" / CARD_FILE).read_text())
    assert unservable_reason(shipped) is None  # SWD 20.3
    assert unservable_reason({"images_seen": 0, "note": "a test card"}) is None  # no metrics
    assert unservable_reason({**shipped, "dry_run": False}) is None
    assert unservable_reason({"swd": {"mean": 138.5}}) is None  # a weak but real 20-min run
    dry = unservable_reason({**shipped, "dry_run": True})
    assert dry is not None and "dry run" in dry and "\n" not in dry
    for swd in (NOISE_SWD, 176.0, 545.6):  # a 2k-image run; an untrained generator
        noise = unservable_reason({**shipped, "swd": {**shipped["swd"], "mean": swd}})
        assert noise is not None and f"{swd:.1f}" in noise and "noise" in noise
    assert unservable_reason({"swd": {"mean": float("nan")}}) is not None
