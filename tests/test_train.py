"""The training loop: exact resume, refused config changes, dry-run outputs, Ctrl-C, presets."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from model.errors import UserError
from model.nets.config import GANConfig
from model.nets.weights import CARD_FILE, DISCRIMINATOR_FILE, WEIGHTS_FILE, load_generator
from model.train.__main__ import main
from model.train.loop import train
from model.train.options import RunLimits, preset_config
from model.train.state import load_training_state

SMALL = GANConfig(z_dim=8, image_size=32, g_width=8, d_width=8)
REPO = Path(__file__).resolve().parent.parent


def small_config(data: Path, **changes: object):
    cfg = replace(preset_config("default", str(data)), gan=SMALL, batch=8)
    return replace(cfg, **changes)


def limits(steps: int, images_per_step: int) -> RunLimits:
    return RunLimits(kimg=steps * images_per_step / 1000, ckpt_minutes=60, eval_n=16)


def run(cfg, out: Path, steps: int, cache: Path, resume: bool = False) -> dict:
    train(cfg, out, limits(steps, cfg.batch * cfg.n_critic), resume=resume,
          device=torch.device("cpu"), cache_dir=cache, show_progress=False)
    return load_training_state(out / "ckpt.pt")


@pytest.fixture
def one_thread():  # type: ignore[no-untyped-def]
    """Bit-exact comparisons on one thread: with two, some CPU kernels split their sums
    differently from run to run, and the last bits differ (seen in 2 of 5 runs here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("loss", ["dcgan", "wgan-gp", "fastgan"])
def test_two_steps_plus_resume_plus_two_equals_four(people_dir: Path, tmp_path: Path,
                                                    loss: str, one_thread: None) -> None:
    cfg = small_config(people_dir)
    if loss == "wgan-gp":  # n_critic 5, gradient penalty, LayerNorm critic
        cfg = replace(preset_config("default", str(people_dir), "wgan-gp"), gan=SMALL, batch=8)
    if loss == "fastgan":  # decoders, noise injection, LeCam's averages, minibatch std
        cfg = replace(preset_config("fastgan", str(people_dir)), batch=8, lecam=0.1,
                      gan=replace(SMALL, arch="fastgan", mbstd_group=4))
    straight = run(cfg, tmp_path / "a", 4, tmp_path / "cache")
    run(cfg, tmp_path / "b", 2, tmp_path / "cache")
    resumed = run(cfg, tmp_path / "b", 4, tmp_path / "cache", resume=True)
    assert straight["step"] == resumed["step"] == 4
    parts = ("G", "D", "ema") + (("recon", "lecam_avg") if loss == "fastgan" else ())
    for part in parts:
        if isinstance(straight[part], torch.Tensor):
            assert torch.equal(straight[part], resumed[part]), part
            continue
        for key, value in straight[part].items():
            assert torch.equal(value, resumed[part][key]), f"{part}.{key}"
    assert straight["opt_d"]["state"][0]["exp_avg"].abs().sum() > 0
    assert torch.equal(straight["opt_g"]["state"][0]["exp_avg_sq"],
                       resumed["opt_g"]["state"][0]["exp_avg_sq"])


def test_resume_with_other_settings_is_refused(people_dir: Path, tmp_path: Path) -> None:
    cfg = small_config(people_dir)
    run(cfg, tmp_path / "r", 1, tmp_path / "cache")
    before = (tmp_path / "r" / "ckpt.pt").read_bytes()
    with pytest.raises(UserError, match=r"other settings \(loss: 'dcgan' in the checkpoint, "
                                        r"'hinge' now") as err:
        run(replace(cfg, loss="hinge"), tmp_path / "r", 2, tmp_path / "cache", resume=True)
    assert "\n" not in str(err.value)
    assert (tmp_path / "r" / "ckpt.pt").read_bytes() == before


def test_a_new_run_does_not_overwrite_an_old_one(people_dir: Path, tmp_path: Path) -> None:
    cfg = small_config(people_dir)
    run(cfg, tmp_path / "r", 1, tmp_path / "cache")
    with pytest.raises(UserError, match="add --resume"):
        run(cfg, tmp_path / "r", 1, tmp_path / "cache")


def test_resume_flags_default_to_the_checkpoint(people_dir: Path, tmp_path: Path) -> None:
    out, cache = tmp_path / "run", tmp_path / "cache"
    common = ["--data", str(people_dir), "--out", str(out), "--cache-dir", str(cache),
              "--image-size", "32", "--width", "8", "--z-dim", "8", "--batch", "8"]
    assert main([*common, "--preset", "classic-dcgan", "--kimg", "0.008"]) == 0
    # --resume without the preset flags continues the classic run, not the default preset
    assert main(["--data", str(people_dir), "--out", str(out), "--cache-dir", str(cache),
                 "--resume", "--kimg", "0.016"]) == 0
    state = load_training_state(out / "ckpt.pt")
    assert state["step"] == 2 and state["config"]["preset"] == "classic-dcgan"
    assert state["config"]["gan"]["d_norm"] == "batch" and state["ema"] is None


def test_dry_run_writes_every_output_and_the_export_loads(people_dir: Path,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "smoke"
    assert main(["--data", str(people_dir), "--out", str(out), "--dry-run",
                 "--cache-dir", str(tmp_path / "cache"), "--image-size", "32"]) == 0
    for name in ("options.json", "log.jsonl", "grid_final.png", "losses.png", "ckpt.pt",
                 "generator.safetensors", "generator.json"):
        assert (out / name).is_file(), name
    assert list((out / "grids").glob("epoch_*.png"))
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    g, card = load_generator(out)
    assert card["images_seen"] == 32 and card["data"]["hash"]
    assert card["exported"] in ("generator", "ema") and card["swd"]["mean"] > 0
    assert set(card["scores"]) == {"generator", "ema"}
    assert g.config.image_size == 32 and g.config.z_dim == 40
    # the exporter records each weights file's sha256, which every load checks (issue 31, 4)
    assert card["sha256"] == {n: hashlib.sha256((out / n).read_bytes()).hexdigest()
                              for n in (WEIGHTS_FILE, DISCRIMINATOR_FILE)}


def test_wgan_gp_recipe_replaces_batchnorm_in_the_critic() -> None:
    cfg = preset_config("classic-dcgan", "x", "wgan-gp")
    assert cfg.gan.d_norm == "layer" and cfg.n_critic == 5 and cfg.gp_weight == 10
    assert not cfg.gan.spectral_norm
    assert cfg.betas == (0.0, 0.9) and cfg.lr_d == 1e-4
    classic = preset_config("classic-dcgan", "x")
    assert classic.gan.z_dim == 100 and classic.gan.d_norm == "batch"
    assert classic.augment == () and classic.ema_beta == 0 and not classic.gan.spectral_norm


def test_too_few_images_for_a_batch_is_a_user_error(people_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="fewer than one batch of 64"):
        run(small_config(people_dir, batch=64), tmp_path / "r", 1, tmp_path / "cache")


def test_ctrl_c_writes_a_checkpoint_and_exits_130(people_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "model.train", "--data", str(people_dir), "--out", str(out),
         "--cache-dir", str(tmp_path / "cache"), "--image-size", "32", "--width", "8",
         "--batch", "8", "--kimg", "1000"],
        env=env, cwd=REPO, stderr=subprocess.PIPE, text=True)
    log = out / "log.jsonl"
    deadline = time.monotonic() + 60
    while not (log.is_file() and log.read_text().count("\n") >= 2):  # wait for real steps
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "continue with the same command plus --resume" in err
    state = load_training_state(out / "ckpt.pt")
    steps_logged = len(log.read_text().splitlines())
    assert state["step"] == steps_logged >= 2


def test_a_bf16_autocast_step_trains(people_dir: Path, tmp_path: Path) -> None:
    from model.data.images import load_folder
    from model.train.distributed import SINGLE
    from model.train.step import Batches, build_models, train_step

    cfg = small_config(people_dir)
    m = build_models(cfg, torch.device("cpu"))
    before = [p.detach().clone() for p in m.G.parameters()]
    images = load_folder(people_dir, 32, tmp_path / "cache").images
    stats = train_step(m, cfg, Batches(images, 8, 0, SINGLE), 0, torch.device("cpu"),
                       SINGLE, amp=True)
    assert all(torch.isfinite(torch.tensor(stats[k])) for k in ("loss_d", "loss_g"))
    assert all(p.dtype == torch.float32 for p in m.G.parameters())  # weights stay fp32
    assert any(not torch.equal(a, b) for a, b in zip(before, m.G.parameters(), strict=True))


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under folder: its modification time and its bytes."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_dry_run_into_the_shipped_weights_is_refused_untouched(people_dir: Path,
                                                                 tmp_path: Path) -> None:
    import shutil

    weights = tmp_path / "weights"  # a copy of the shipped export: no ckpt.pt, no run
    shutil.copytree(REPO / "weights", weights)
    before = snapshot(weights)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "model.train", "--data", str(people_dir), "--out", str(weights),
         "--dry-run", "--cache-dir", str(tmp_path / "cache"), "--image-size", "32"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "generator.safetensors" in line
    assert "--force" not in line and "runs/NAME" in line  # never offered for served weights
    assert snapshot(weights) == before
    assert not (tmp_path / "cache").exists()  # refused before the data was even read


def test_an_out_with_a_checkpoint_is_refused_unless_resume_or_force(people_dir: Path,
                                                                    tmp_path: Path) -> None:
    out, cache = tmp_path / "run", tmp_path / "cache"
    common = ["--data", str(people_dir), "--out", str(out), "--cache-dir", str(cache),
              "--image-size", "32", "--width", "8", "--z-dim", "8", "--batch", "8"]
    assert main([*common, "--kimg", "0.008"]) == 0
    before = snapshot(out)
    for extra in (["--kimg", "0.008"], ["--dry-run"]):
        with pytest.raises(UserError) as err:
            main([*common, *extra])
        assert "ckpt.pt" in str(err.value) and "--resume" in str(err.value)
        assert "--force" in str(err.value) and "\n" not in str(err.value)
        assert snapshot(out) == before
    assert main([*common, "--resume", "--kimg", "0.016"]) == 0
    assert load_training_state(out / "ckpt.pt")["step"] == 2
    exported = {n: (out / n).read_bytes() for n in (WEIGHTS_FILE, CARD_FILE, DISCRIMINATOR_FILE)}
    assert not list(out.glob("previous-export-*"))  # a resume replaces its own export
    assert main([*common, "--force", "--kimg", "0.008"]) == 0  # starts over
    assert load_training_state(out / "ckpt.pt")["step"] == 1
    [kept] = out.glob("previous-export-*")  # the export it replaced, there to copy back
    assert {n: (kept / n).read_bytes() for n in exported} == exported
    assert (out / WEIGHTS_FILE).read_bytes() != exported[WEIGHTS_FILE]
    rows = (out / "log.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows] == [1]  # the old run's log went with it


def test_a_dry_run_card_says_so(people_dir: Path, tmp_path: Path) -> None:
    common = ["--data", str(people_dir), "--cache-dir", str(tmp_path / "cache"),
              "--image-size", "32", "--width", "8", "--z-dim", "8", "--batch", "8"]
    assert main([*common, "--out", str(tmp_path / "dry"), "--dry-run"]) == 0
    assert main([*common, "--out", str(tmp_path / "real"), "--kimg", "0.008"]) == 0
    assert load_generator(tmp_path / "dry")[1]["dry_run"] is True
    assert load_generator(tmp_path / "real")[1]["dry_run"] is False


def test_top_k_training_starts_with_every_fake_and_narrows_to_its_floor() -> None:
    from model.train.step import top_k_count

    cfg = replace(preset_config("default", "x"), top_k=0.5)
    counts = [top_k_count(64, epoch, cfg) for epoch in range(0, 400, 5)]
    assert counts[0] == 64 and counts[-1] == 32  # all at first, then the floor
    assert all(b <= a for a, b in itertools.pairwise(counts))  # never widens
    assert len(set(counts)) > 10  # narrows gradually, not in one jump
    off = preset_config("default", "x")
    assert {top_k_count(64, e, off) for e in (0, 100, 1000)} == {64}


def test_top_k_flag_is_recorded_and_refused_outside_zero_one(tmp_path: Path,
                                                             people_dir: Path) -> None:
    out = tmp_path / "run"
    common = ["--data", str(people_dir), "--image-size", "32", "--width", "8", "--dry-run",
              "--cache-dir", str(tmp_path)]
    assert main([*common, "--out", str(out), "--top-k", "0.5"]) == 0
    assert json.loads((out / "options.json").read_text())["config"]["top_k"] == 0.5
    with pytest.raises(UserError, match="--top-k must be a share"):
        main([*common, "--out", str(tmp_path / "b"), "--top-k", "1.5"])


def test_a_checkpoint_from_before_a_setting_existed_resumes(tmp_path: Path,
                                                            people_dir: Path) -> None:
    out = tmp_path / "run"
    common = ["--data", str(people_dir), "--out", str(out), "--image-size", "32", "--width",
              "8", "--cache-dir", str(tmp_path)]
    assert main([*common, "--kimg", "0.05", "--batch", "8"]) == 0
    state = torch.load(out / "ckpt.pt", weights_only=True)
    for key in ("top_k", "top_k_gamma"):  # what an older trainer wrote
        del state["config"][key]
    torch.save(state, out / "ckpt.pt")
    assert main([*common, "--kimg", "0.1", "--resume"]) == 0
    assert load_training_state(out / "ckpt.pt")["images_seen"] >= 100
