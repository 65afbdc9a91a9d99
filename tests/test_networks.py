"""Tests for model.nets: shapes per size, norms, init, config checks, batch coupling."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from model.nets.config import IMAGE_SIZES, GANConfig
from model.nets.dcgan import Discriminator, Generator

NORMS = ("batch", "layer", "none")


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _small(**kw) -> GANConfig:
    """Narrow networks: the shapes do not depend on the width, and they run fast."""
    return GANConfig(**{"g_width": 8, "d_width": 8, "z_dim": 16, **kw})


# ---------------------------------------------------------------- generator


@pytest.mark.parametrize("size", IMAGE_SIZES)
@pytest.mark.parametrize("g_norm", NORMS)
def test_generator_output_shape_and_range(size, g_norm):
    cfg = _small(image_size=size, g_norm=g_norm)
    g = Generator(cfg)
    z = torch.randn(3, cfg.z_dim)
    for mode in (g.train, g.eval):
        mode()
        with torch.no_grad():
            x = g(z)
        assert x.shape == (3, 3, size, size)
        assert x.dtype == torch.float32
        assert torch.isfinite(x).all()
        assert x.min().item() >= -1.0 and x.max().item() <= 1.0
        assert x.std().item() > 0  # not a constant image


def test_generator_accepts_z_as_vector_or_4d():
    cfg = _small(image_size=32)
    g = Generator(cfg).eval()
    z = torch.randn(2, cfg.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(g(z), g(z.view(2, cfg.z_dim, 1, 1)))


def test_generator_channels_follow_config():
    cfg = _small(image_size=32, channels=1)
    with torch.no_grad():
        assert Generator(cfg)(torch.randn(2, cfg.z_dim)).shape == (2, 1, 32, 32)


def test_generator_default_config_is_64px():
    cfg = GANConfig()
    g = Generator(cfg).eval()
    with torch.no_grad():
        x = g(torch.randn(2, cfg.z_dim))
    assert x.shape == (2, 3, 64, 64)
    assert cfg.n_stages == 4


def test_generator_bias_only_without_norm():
    for g_norm, expect_bias in (("batch", False), ("layer", False), ("none", True)):
        g = Generator(_small(image_size=32, g_norm=g_norm))
        convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
        hidden = convs[:-1]
        assert all((c.bias is not None) == expect_bias for c in hidden), g_norm


# ---------------------------------------------------------------- discriminator


@pytest.mark.parametrize("size", IMAGE_SIZES)
@pytest.mark.parametrize("d_norm", NORMS)
@pytest.mark.parametrize("sn", [True, False])
def test_discriminator_returns_one_logit_per_image(size, d_norm, sn):
    cfg = _small(image_size=size, d_norm=d_norm, spectral_norm=sn)
    d = Discriminator(cfg)
    x = torch.rand(3, 3, size, size) * 2 - 1
    for mode in (d.train, d.eval):
        mode()
        with torch.no_grad():
            out = d(x)
        assert out.shape == (3,)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("sn", [True, False])
def test_spectral_norm_is_applied_to_every_conv_when_asked(sn):
    d = Discriminator(_small(image_size=32, spectral_norm=sn))
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4  # 3 strided (32 -> 4) and the final 4x4
    for conv in convs:
        has_sn = hasattr(conv, "parametrizations") and "weight" in conv.parametrizations
        assert has_sn == sn


def test_spectral_norm_bounds_each_conv_matrix():
    d = Discriminator(_small(image_size=32, spectral_norm=True)).train()
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        for _ in range(30):  # power iteration converges over forward passes
            d(x)
    d.eval()
    for conv in (m for m in d.modules() if isinstance(m, nn.Conv2d)):
        w = conv.weight.detach().flatten(1)
        sigma = torch.linalg.matrix_norm(w, ord=2).item()
        assert sigma == pytest.approx(1.0, abs=0.05)


def test_discriminator_input_layer_is_never_normalised():
    d = Discriminator(_small(image_size=32, d_norm="batch", spectral_norm=False))
    layers = list(d.main)
    assert isinstance(layers[0], nn.Conv2d)
    assert isinstance(layers[1], nn.Identity)
    assert isinstance(layers[4], nn.BatchNorm2d)


def _layer_norms(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, nn.GroupNorm)]


def test_layer_norm_is_groupnorm_with_one_group():
    d = Discriminator(_small(image_size=64, d_norm="layer"))
    norms = _layer_norms(d)
    assert len(norms) == 3
    assert all(n.num_groups == 1 for n in norms)


def _sample0_alone_and_batched(d_norm: str, sn: bool) -> tuple[torch.Tensor, torch.Tensor]:
    cfg = _small(image_size=32, d_norm=d_norm, spectral_norm=sn)
    d = Discriminator(cfg).train()
    x = torch.rand(6, 3, 32, 32) * 2 - 1
    x[1:] *= 0.3  # make the other samples' statistics differ from sample 0's
    # deep copies: spectral norm's power iteration updates state on each training forward
    with torch.no_grad():
        alone = copy.deepcopy(d)(x[:1])
        batched = copy.deepcopy(d)(x)[:1]
    return alone, batched


@pytest.mark.parametrize("sn", [True, False])
@pytest.mark.parametrize("d_norm", ["layer", "none"])
def test_per_sample_norms_do_not_couple_the_batch(d_norm, sn):
    alone, batched = _sample0_alone_and_batched(d_norm, sn)
    torch.testing.assert_close(alone, batched, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("sn", [True, False])
def test_batch_norm_couples_the_batch_in_train_mode(sn):
    cfg = _small(image_size=32, d_norm="batch", spectral_norm=sn)
    d = Discriminator(cfg).train()
    x = torch.rand(6, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        a = copy.deepcopy(d)(x[:3])[:1]
        b = copy.deepcopy(d)(torch.cat([x[:3], -x[3:]]))[:1]
    assert (a - b).abs().item() > 1e-4


def test_layer_norm_discriminator_gradient_penalty_is_per_sample():
    # WGAN-GP needs d(out_i)/d(x_j) = 0 for i != j; with layer norm that holds in train mode.
    d = Discriminator(_small(image_size=32, d_norm="layer", spectral_norm=False)).train()
    x = (torch.rand(3, 3, 32, 32) * 2 - 1).requires_grad_(True)
    (grad,) = torch.autograd.grad(d(x)[0], x)
    assert grad[0].abs().sum().item() > 0
    assert grad[1:].abs().max().item() == 0.0


# ---------------------------------------------------------------- init


def _largest(module: nn.Module, kind) -> nn.Module:
    return max((m for m in module.modules() if isinstance(m, kind)), key=lambda m: m.weight.numel())


def test_generator_conv_init_std():
    g = Generator(GANConfig())  # default widths: the largest layer has 2M weights
    conv = _largest(g, nn.ConvTranspose2d)
    assert conv.weight.numel() > 1_000_000
    assert 0.015 < conv.weight.std().item() < 0.025
    assert abs(conv.weight.mean().item()) < 0.001


def test_discriminator_conv_init_std():
    d = Discriminator(GANConfig(spectral_norm=False))
    conv = _largest(d, nn.Conv2d)
    assert conv.weight.numel() > 1_000_000
    assert 0.015 < conv.weight.std().item() < 0.025
    biases = [m.bias for m in d.modules() if isinstance(m, nn.Conv2d) and m.bias is not None]
    assert biases and all((b == 0).all() for b in biases)


def test_discriminator_init_std_under_spectral_norm():
    d = Discriminator(GANConfig(spectral_norm=True))
    originals = [
        m.parametrizations.weight.original
        for m in d.modules()
        if isinstance(m, nn.Conv2d) and hasattr(m, "parametrizations")
    ]
    big = max(originals, key=lambda w: w.numel())
    assert big.numel() > 1_000_000
    assert 0.015 < big.std().item() < 0.025


def test_norm_scales_init_near_one():
    g = Generator(GANConfig(g_norm="batch"))
    bn = _largest(g, nn.BatchNorm2d)
    assert 0.98 < bn.weight.mean().item() < 1.02
    assert 0.01 < bn.weight.std().item() < 0.03
    assert (bn.bias == 0).all()


# ---------------------------------------------------------------- config


@pytest.mark.parametrize("size", [0, 16, 48, 100, 256])
def test_config_rejects_bad_image_size(size):
    with pytest.raises(ValueError, match="image_size"):
        GANConfig(image_size=size)


@pytest.mark.parametrize("field", ["g_norm", "d_norm"])
@pytest.mark.parametrize("value", ["instance", "Batch", "", "spectral"])
def test_config_rejects_bad_norm(field, value):
    with pytest.raises(ValueError, match=field):
        GANConfig(**{field: value})


@pytest.mark.parametrize("field", ["z_dim", "g_width", "d_width"])
def test_config_rejects_non_positive_sizes(field):
    with pytest.raises(ValueError):
        GANConfig(**{field: 0})


@pytest.mark.parametrize(("size", "stages"), [(32, 3), (64, 4), (128, 5)])
def test_n_stages(size, stages):
    # 4 * 2**stages == size: the 4x4 base doubled once per stage
    assert 4 * 2**stages == size
    assert GANConfig(image_size=size).n_stages == stages


def test_config_dict_round_trip():
    cfg = GANConfig(
        z_dim=7, image_size=128, channels=1, g_width=5, d_width=6,
        g_norm="none", d_norm="layer", spectral_norm=False,
    )  # fmt: skip
    d = cfg.to_dict()
    assert isinstance(d, dict)
    assert d["image_size"] == 128 and d["d_norm"] == "layer" and d["spectral_norm"] is False
    assert GANConfig.from_dict(d) == cfg
    assert GANConfig.from_dict(GANConfig().to_dict()) == GANConfig()


def test_config_from_dict_fills_defaults_for_missing_keys():
    assert GANConfig.from_dict({"image_size": 32}) == GANConfig(image_size=32)


def test_config_from_dict_rejects_unknown_keys():
    data = {**GANConfig().to_dict(), "depth": 5, "alpha": 1}
    with pytest.raises(ValueError) as info:
        GANConfig.from_dict(data)
    assert "depth" in str(info.value) and "alpha" in str(info.value)


def test_config_from_dict_validates_values():
    with pytest.raises(ValueError):
        GANConfig.from_dict({**GANConfig().to_dict(), "image_size": 96})


def test_same_config_same_architecture():
    cfg = _small(image_size=64)
    rebuilt = GANConfig(**cfg.to_dict())
    assert _parameters(Generator(cfg)) == _parameters(Generator(rebuilt))
    wider = _small(image_size=64, d_width=16)
    assert _parameters(Discriminator(wider)) > _parameters(Discriminator(cfg))


def _parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())
