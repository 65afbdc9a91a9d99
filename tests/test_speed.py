"""The speed levers the trainer and the bot ship with change no maths beyond rounding."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from model.device import cpu_has_native_bf16
from model.errors import UserError
from model.nets.weights import load_generator, save_generator
from model.serve.sampler import Sampler
from model.train.__main__ import main
from model.train.distributed import SINGLE
from model.train.options import preset_config
from model.train.step import Batches, build_models, train_step
from tests.helpers import TINY

CPU = torch.device("cpu")


@pytest.mark.parametrize("preset", ["classic-dcgan", "default"])
def test_channels_last_trains_the_same_as_nchw(preset: str) -> None:
    cfg = replace(preset_config(preset, "x"), batch=8,
                  gan=replace(preset_config(preset, "x").gan, image_size=32, g_width=8,
                              d_width=8))
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    results = []
    for channels_last in (True, False):
        m = build_models(cfg, CPU, channels_last=channels_last)
        weight = next(m.G.parameters())
        assert weight.is_contiguous(memory_format=torch.channels_last) == channels_last
        torch.manual_seed(1)  # the same noise and augmentation for both layouts
        losses = [train_step(m, cfg, Batches(images, 8, 0, SINGLE), i, CPU) for i in range(3)]
        results.append((losses, {k: v.clone() for k, v in m.G.state_dict().items()}))
    (nhwc_losses, nhwc_g), (nchw_losses, nchw_g) = results
    for a, b in zip(nhwc_losses, nchw_losses, strict=True):
        assert a["loss_d"] == pytest.approx(b["loss_d"], rel=1e-4, abs=1e-5)
        assert a["loss_g"] == pytest.approx(b["loss_g"], rel=1e-4, abs=1e-5)
    # Adam moves every weight by about lr a step whatever its gradient's size, so a rounding
    # difference on a near-zero gradient can show as up to ~lr per step on a rare element;
    # a layout bug would move most elements by that much.
    for key, value in nhwc_g.items():
        diff = (value.float() - nchw_g[key].float()).abs()
        assert diff.max() <= 2 * cfg.lr_g * 3, key
        assert (diff > 1e-5).float().mean() < 0.01, key


def test_an_nhwc_generator_exports_and_serves_like_nchw(tmp_path: Path) -> None:
    torch.manual_seed(0)
    m = build_models(replace(preset_config("default", "x"), gan=TINY), CPU)
    save_generator(tmp_path, m.G, TINY, {"note": "nhwc"})  # safetensors needs contiguous data
    plain, _ = load_generator(tmp_path, CPU)  # NCHW, as written
    served = Sampler.load(tmp_path, "cpu")
    assert next(served.generator.parameters()).is_contiguous(memory_format=torch.channels_last)
    z = torch.randn(32, TINY.z_dim)
    with torch.inference_mode():
        reference = plain.eval()(z).add(1).mul(127.5).round().clamp(0, 255)
    diff = (served.generate(z).float() - reference).abs()
    assert diff.max() <= 1  # rounding at a pixel's edge, never more


@pytest.mark.skipif(cpu_has_native_bf16(), reason="this CPU runs bf16 natively")
def test_bf16_on_a_cpu_without_native_bf16_is_refused(tmp_path: Path, people_dir: Path) -> None:
    with pytest.raises(UserError, match="no native bf16") as exc:
        main(["--data", str(people_dir), "--out", str(tmp_path / "run"), "--device", "cpu",
              "--amp", "bf16", "--dry-run", "--cache-dir", str(tmp_path / "cache")])
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "run").exists()  # refused before anything was written
