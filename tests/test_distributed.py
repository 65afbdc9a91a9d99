"""Data parallel training on two CPU ranks (gloo): identical weights, rank 0 alone writes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import torch
import torch.multiprocessing as mp

from model.data.images import load_folder
from model.nets.config import GANConfig
from model.train import distributed as ddp
from model.train.options import preset_config
from model.train.step import Batches, build_models, train_step

SMALL = GANConfig(z_dim=8, image_size=32, g_width=8, d_width=8)
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, data: str, cache: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    d = ddp.from_env("cpu")
    cfg = replace(preset_config("default", data), gan=SMALL, batch=8)
    device = torch.device("cpu")
    m = build_models(cfg, device, d)
    torch.manual_seed(1000 + rank)  # each rank draws its own noise, as in training
    images = load_folder(Path(data), 32, Path(cache)).images
    batches = Batches(images, cfg.batch, cfg.seed, d)
    for step in range(3):
        train_step(m, cfg, batches, step, device, d)
    torch.save({"G": m.G.state_dict(), "D": m.D.state_dict(), "ema": m.ema.state_dict()},
               Path(out) / f"rank{rank}.pt")
    ddp.shutdown(d)


def test_two_gloo_ranks_hold_identical_weights(people_dir: Path, tmp_path: Path) -> None:
    load_folder(people_dir, 32, tmp_path / "cache")  # decode once, before the ranks start
    mp.spawn(_worker, args=(2, free_port(), str(people_dir), str(tmp_path / "cache"),
                            str(tmp_path)), nprocs=2, join=True)
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    start = build_models(replace(preset_config("default", "x"), gan=SMALL, batch=8),
                         torch.device("cpu"))
    for part in ("G", "D", "ema"):
        for key, value in a[part].items():
            assert torch.equal(value, b[part][key]), f"{part}.{key} differs between ranks"
    # and they trained: G moved away from its initial weights
    moved = [not torch.equal(v, start.G.state_dict()[k]) for k, v in a["G"].items()
             if k.endswith("weight")]
    assert all(moved)


def test_torchrun_two_ranks_only_rank_zero_writes(people_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", str(free_port()), "-m", "model.train", "--data", str(people_dir),
           "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--image-size", "32",
           "--width", "8", "--batch", "8", "--kimg", "0.024"]
    result = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    log = (out / "log.jsonl").read_text().splitlines()
    assert len(log) == 3  # one writer: three steps, three lines (two writers would double them)
    assert result.stdout.count("exported") == 1
    state = torch.load(out / "ckpt.pt", weights_only=True)
    assert len(state["rng"]) == 2 and state["step"] == 3


def test_a_run_resumes_with_another_number_of_ranks(people_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    common = ["-m", "model.train", "--data", str(people_dir), "--out", str(out),
              "--cache-dir", str(tmp_path / "cache"), "--image-size", "32", "--width", "8",
              "--batch", "8"]
    single = subprocess.run([sys.executable, *common, "--kimg", "0.016"], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-2000:]
    first = torch.load(out / "ckpt.pt", weights_only=True)
    assert first["step"] == 2 and len(first["rng"]) == 1
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node",
                          "2", "--master_port", str(free_port()), *common, "--resume",
                          "--kimg", "0.032"], env=env, cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert two.returncode == 0, two.stderr
    state = torch.load(out / "ckpt.pt", weights_only=True)
    assert state["step"] == 4 and state["images_seen"] == 32 and len(state["rng"]) == 2
    assert not torch.equal(state["G"]["main.0.weight"], first["G"]["main.0.weight"])
    lines = (out / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4]  # one writer


def _flags_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    d = ddp.from_env("cpu")
    # rank 0 alone is past the deadline, rank 1 alone is due a checkpoint
    mine = (rank == 0, rank == 1, False)
    agreed = ddp.any_rank(mine, d, torch.device("cpu"))
    Path(out, f"flags{rank}.json").write_text(json.dumps(agreed))
    ddp.shutdown(d)


def test_ranks_agree_on_stop_and_checkpoint_decisions(tmp_path: Path) -> None:
    """A clock read on one rank decides for all, so no rank enters a collective alone."""
    mp.spawn(_flags_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        assert json.loads((tmp_path / f"flags{rank}.json").read_text()) == [True, True, False]
