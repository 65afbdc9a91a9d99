"""model.nets.fastgan and what came with it: block shapes at every size, fixed noise when serving,
the self-supervised decoders, minibatch standard deviation, LeCam, --amp auto, --held-out."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from model import device as device_mod
from model.data.images import Dataset
from model.data.split import heldout_mask, image_groups, without_held_out
from model.errors import UserError
from model.nets.build import build_discriminator, build_generator, build_reconstructors
from model.nets.config import GANConfig
from model.nets.fastgan import (
    GLU,
    FastDiscriminator,
    FastGenerator,
    NoiseInjection,
    crop_quarter,
    d_widths,
    g_widths,
    sle_pairs,
)
from model.nets.layers import MinibatchStd
from model.nets.losses import lecam, reconstruction, update_lecam_averages
from model.nets.weights import load_discriminator, load_generator
from model.train.loop import train
from model.train.options import RunLimits, preset_config
from model.train.state import load_training_state
from tests.helpers import fastgan_config as _fast

pytestmark = pytest.mark.usefixtures("single_thread")


# ---------------------------------------------------------------- generator


@pytest.mark.parametrize("size", [32, 64, 128])
def test_generator_draws_one_image_per_latent_at_every_size(size: int) -> None:
    torch.manual_seed(0)
    g = build_generator(_fast(size))
    assert isinstance(g, FastGenerator)
    x = g(torch.randn(3, 16))
    assert x.shape == (3, 3, size, size)
    assert x.min() >= -1 and x.max() <= 1 and x.std() > 0


def test_the_gate_is_torchs_glu_in_either_layout_and_keeps_channels_last() -> None:
    x = torch.randn(2, 32, 16, 16)
    nhwc = x.contiguous(memory_format=torch.channels_last)
    expected = torch.nn.functional.glu(x, dim=1)  # (2, 16, 16, 16)
    assert torch.equal(GLU()(x), expected)  # the default layout: torch's own glu
    fast = GLU()(nhwc)
    assert fast.is_contiguous(memory_format=torch.channels_last)  # no reorder for the conv
    torch.testing.assert_close(fast, expected, rtol=1e-6, atol=1e-6)


def test_a_channels_last_generator_draws_what_the_default_layout_draws() -> None:
    """The bot serves G in channels-last (model.serve): the same pictures, to rounding."""
    torch.manual_seed(0)
    g = build_generator(_fast(64)).eval()
    z = torch.randn(4, 16)
    with torch.inference_mode():
        expected = g(z)
        nhwc = g.to(memory_format=torch.channels_last)(z)
    torch.testing.assert_close(nhwc, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize(("size", "widths"), [
    (64, {4: 64, 8: 64, 16: 32, 32: 16, 64: 8}),
    (128, {4: 64, 8: 64, 16: 32, 32: 16, 64: 8, 128: 8}),  # never below 8 channels
])
def test_generator_widths_halve_from_8x8_up(size: int, widths: dict[int, int]) -> None:
    assert g_widths(_fast(size)) == widths


@pytest.mark.parametrize(("size", "pairs"), [(32, [(4, 32)]), (64, [(4, 32), (8, 64)]),
                                             (128, [(8, 64), (16, 128)])])
def test_skip_layer_excitation_gates_the_two_largest_maps_from_8x_smaller_ones(
        size: int, pairs: list[tuple[int, int]]) -> None:
    assert sle_pairs(size) == pairs
    g = FastGenerator(_fast(size))
    assert sorted(int(k) for k in g.sle) == [t for _, t in pairs]


def test_generator_upsamples_by_resize_convolution_not_transposed_convolution() -> None:
    g = FastGenerator(_fast(64))
    transposed = [m for m in g.ups.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert transposed == []
    assert all(isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)
               for m in g.ups.modules() if isinstance(m, torch.nn.Conv2d))


def test_excitation_changes_the_big_map_with_the_small_one() -> None:
    torch.manual_seed(0)
    g = FastGenerator(_fast(64))
    sle = g.sle["64"]
    big = torch.randn(2, 8, 64, 64)
    a = sle(torch.randn(2, 64, 8, 8), big)
    b = sle(torch.randn(2, 64, 8, 8), big)
    assert a.shape == big.shape and not torch.allclose(a, b)
    assert (a.abs() <= big.abs() + 1e-6).all()  # gates in (0, 1) only ever shrink


def test_noise_is_fresh_in_training_and_fixed_when_serving() -> None:
    torch.manual_seed(0)
    g = build_generator(_fast(64))
    for layer in g.modules():
        if isinstance(layer, NoiseInjection):
            layer.weight.data.fill_(0.5)  # trained weights are non-zero; the init is 0
    z = torch.randn(2, 16)
    g.train()
    assert not torch.equal(g(z), g(z))
    g.eval()
    with torch.no_grad():
        assert torch.equal(g(z), g(z))  # a reply is a pure function of its latent


# ---------------------------------------------------------------- discriminator


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize(("mbstd", "d_norm"), [(0, "none"), (4, "none"), (4, "batch")])
def test_discriminator_gives_a_logit_per_image_and_the_decoders_maps(size: int, mbstd: int,
                                                                     d_norm: str) -> None:
    cfg = _fast(size, mbstd_group=mbstd, d_norm=d_norm)
    d = build_discriminator(cfg).eval()  # eval: spectral norm's power iteration stands still
    assert isinstance(d, FastDiscriminator)
    x = torch.rand(4, 3, size, size) * 2 - 1
    logits, feats = d.features(x)
    assert logits.shape == (4,) and torch.equal(logits, d(x))
    widths = d_widths(cfg)
    for res in (8, 16):
        assert feats[res].shape == (4, widths[res], res, res)


def test_decoders_rebuild_the_whole_image_and_one_quarter_at_32px() -> None:
    cfg = _fast(64)
    d, recon = build_discriminator(cfg), build_reconstructors(cfg)
    assert recon is not None and build_reconstructors(GANConfig()) is None
    real = torch.rand(2, 3, 64, 64) * 2 - 1
    _, feats = d.features(real)
    whole, target_whole, quarter, target_part = recon(feats, real, part=3)
    for t in (whole, target_whole, quarter, target_part):
        assert t.shape == (2, 3, 32, 32)
    # the quarter's target is the bottom-right 32x32 of the real image (area-resized 1:1)
    assert torch.allclose(target_part, real[..., 32:, 32:])
    loss = reconstruction(whole, target_whole) + reconstruction(quarter, target_part)
    loss.backward()
    assert all(p.grad is not None for p in recon.parameters() if p.requires_grad)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in d.parameters())


def test_crop_quarter_picks_each_corner() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert crop_quarter(x, 0).flatten().tolist() == [0, 1, 4, 5]
    assert crop_quarter(x, 1).flatten().tolist() == [2, 3, 6, 7]
    assert crop_quarter(x, 2).flatten().tolist() == [8, 9, 12, 13]
    assert crop_quarter(x, 3).flatten().tolist() == [10, 11, 14, 15]


def test_reconstruction_loss_is_the_mean_squared_error() -> None:
    a, b = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)
    assert reconstruction(a, a) == 0
    assert reconstruction(a, b).item() == pytest.approx(0.25)


# ---------------------------------------------------------------- minibatch std


def test_minibatch_std_adds_the_groups_spread_as_one_channel() -> None:
    layer = MinibatchStd(2)
    same = torch.ones(4, 3, 2, 2)
    out = layer(same)
    assert out.shape == (4, 4, 2, 2) and out[:, 3].max() < 1e-3  # identical samples: 0
    x = torch.zeros(4, 1, 1, 1)
    x[1] = 2.0  # groups are samples {0, 2} and {1, 3}: only the second group varies
    out = MinibatchStd(2)(x)[:, 1].flatten()
    assert out[[0, 2]].max() < 1e-3
    assert out[[1, 3]].tolist() == pytest.approx([1.0, 1.0])


def test_minibatch_std_works_for_a_batch_the_group_does_not_divide() -> None:
    assert MinibatchStd(4)(torch.randn(6, 2, 3, 3)).shape == (6, 3, 3, 3)


def test_dcgan_discriminator_takes_minibatch_std_too() -> None:
    d = build_discriminator(GANConfig(image_size=32, d_width=8, mbstd_group=4))
    assert d(torch.randn(8, 3, 32, 32)).shape == (8,)


# ---------------------------------------------------------------- LeCam


def test_lecam_is_zero_while_reals_stay_below_the_fake_average_and_fakes_above_the_real() -> None:
    zero = lecam(torch.tensor([-1.0, 0.0]), torch.tensor([2.0, 3.0]), torch.tensor(1.0),
                 torch.tensor(0.5))
    assert zero.item() == 0


def test_lecam_pulls_real_logits_down_and_fake_logits_up() -> None:
    real = torch.tensor([3.0, 1.0], requires_grad=True)
    fake = torch.tensor([-3.0, -1.0], requires_grad=True)
    loss = lecam(real, fake, torch.tensor(2.0), torch.tensor(-2.0))
    # real over ema_fake by 5 and 3; ema_real over fake by 5 and 3: (25 + 9) / 2 each
    assert loss.item() == pytest.approx(34.0)
    loss.backward()
    assert (real.grad > 0).all() and (fake.grad < 0).all()  # descent lowers real, raises fake


def test_lecam_averages_start_at_the_first_batch_then_decay() -> None:
    start = torch.full((2,), float("nan"))
    avg = update_lecam_averages(start, torch.tensor([1.0, 3.0]), torch.tensor([-2.0]), 0.9)
    assert avg.tolist() == [2.0, -2.0]
    avg = update_lecam_averages(avg, torch.tensor([12.0]), torch.tensor([8.0]), 0.9)
    assert avg.tolist() == pytest.approx([0.9 * 2 + 0.1 * 12, 0.9 * -2 + 0.1 * 8])


# ---------------------------------------------------------------- --amp auto


@pytest.mark.parametrize(("native", "choice", "expected"), [
    (True, "auto", True), (False, "auto", False), (True, "none", False), (True, "bf16", True)])
def test_amp_auto_follows_the_cpus_native_bf16(monkeypatch: pytest.MonkeyPatch, native: bool,
                                               choice: str, expected: bool) -> None:
    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: native)
    assert device_mod.use_bf16(choice, torch.device("cpu")) is expected


def test_amp_bf16_on_a_cpu_without_it_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(UserError, match=r"no native bf16.*--amp auto"):
        device_mod.use_bf16("bf16", torch.device("cpu"))


# ---------------------------------------------------------------- a run end to end


def test_a_fastgan_run_exports_weights_the_bot_loads_and_resumes(people_dir: Path,
                                                                  tmp_path: Path) -> None:
    out, cache = tmp_path / "fast", tmp_path / "cache"
    cfg = replace(preset_config("fastgan", str(people_dir)), batch=8, lecam=0.1,
                  gan=_fast(32, z_dim=40, mbstd_group=4))

    def run(kimg: float, resume: bool) -> None:
        train(cfg, out, RunLimits(kimg=kimg, ckpt_minutes=60, eval_n=16), resume=resume,
              device=torch.device("cpu"), cache_dir=cache, show_progress=False,
              channels_last=False)

    run(0.016, False)
    state = load_training_state(out / "ckpt.pt")
    assert state["recon"] and torch.isfinite(state["lecam_avg"]).all()
    run(0.024, True)
    assert load_training_state(out / "ckpt.pt")["step"] == 3
    g, card = load_generator(out)
    assert isinstance(g, FastGenerator) and card["config"]["arch"] == "fastgan"
    assert card["precision"] == "fp32" and card["training"]["lecam"] == 0.1
    d = load_discriminator(out)
    assert isinstance(d, FastDiscriminator)
    assert not any(k.startswith(("whole", "part")) for k in d.state_dict())  # no decoders
    with torch.no_grad():
        assert d(g(torch.randn(4, 40))).shape == (4,)


def test_held_out_training_leaves_out_the_groups_the_memorisation_test_holds_out() -> None:
    names = tuple(f"{i:04d}_person-role_1F469-{tone}-200D-1F373.png" if i % 2 else
                  f"{i:04d}_person_1F9D1-{i:04X}.png"
                  for i, tone in enumerate(["1F3FB", "1F3FC", "1F3FD", "1F3FE"] * 5))
    data = Dataset(torch.zeros(len(names), 3, 4, 4, dtype=torch.uint8), "h", "emoji", names)
    kept = without_held_out(data, 0.2)
    held = heldout_mask(image_groups(data), 0.2)
    assert len(kept) == int((~held).sum()) < len(data)
    assert not set(kept.names) & {n for n, h in zip(names, held.tolist(), strict=True) if h}
    assert kept.data_hash != data.data_hash  # a resume on all images is refused
    with pytest.raises(UserError, match="--held-out"):
        without_held_out(replace(data, names=None), 0.2)


def test_a_batchnorm_discriminator_trains_with_its_decoders_in_two_passes() -> None:
    from model.train.distributed import SINGLE
    from model.train.step import Batches, build_models, train_step

    cfg = replace(preset_config("fastgan", "x"), batch=8, lecam=0.1,
                  gan=_fast(32, d_norm="batch", mbstd_group=4))
    m = build_models(cfg, torch.device("cpu"), channels_last=False)
    before = [p.detach().clone() for p in m.recon.parameters()]
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    stats = train_step(m, cfg, Batches(images, 8, 0, SINGLE), 0, torch.device("cpu"))
    assert all(torch.isfinite(torch.tensor(stats[k])) for k in ("loss_d", "loss_g"))
    assert any(not torch.equal(a, b) for a, b in zip(before, m.recon.parameters(), strict=True))
