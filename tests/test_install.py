"""The install a real user gets (issue 31, 7): `make run` installs torch's CPU build from
PyTorch's CPU index where no NVIDIA GPU answers, the CUDA build where one does, and pip's own
indexes where that index cannot be reached (this machine: its local wheel); the project has a
console script."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


@pytest.fixture
def cpu_index(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on loopback standing in for PyTorch's CPU index."""
    (tmp_path / "index" / "whl" / "cpu" / "torch").mkdir(parents=True)
    (tmp_path / "index" / "whl" / "cpu" / "torch" / "index.html").write_text("<html></html>")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(tmp_path / "index"), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/whl/cpu"
    finally:
        server.shutdown()
        server.server_close()


def torch_install(tmp_path: Path, gpu: bool, *variables: str) -> str:
    """The command `make` would run to install torch into a new venv (make -n), on a machine
    whose nvidia-smi finds a GPU or not."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "nvidia-smi"  # as the driver's tool answers with and without a GPU
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-0)'\n" if gpu else
                    "#!/bin/sh\necho 'No devices were found'\nexit 6\n")
    fake.chmod(0o755)
    venv = tmp_path / "venv"
    result = subprocess.run(
        ["make", "-n", "-B", f"VENV={venv}", f"PYTHON={sys.executable}", *variables,
         f"{venv}/.installed-torch"], cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    [line] = [x for x in result.stdout.splitlines() if "pip install" in x and "torch" in x]
    return line


def test_make_installs_the_cpu_build_without_a_gpu_and_the_cuda_build_with_one(
        tmp_path: Path, cpu_index: str) -> None:
    cpu = torch_install(tmp_path, False, f"CPU_INDEX={cpu_index}")
    assert cpu.split()[-3:] == ["torch==2.13.0", "--extra-index-url", cpu_index]
    cuda = torch_install(tmp_path, True, f"CPU_INDEX={cpu_index}")
    assert cuda.split()[-1] == "torch==2.13.0"  # PyPI's wheel: the CUDA build
    chosen = torch_install(tmp_path, True, f"CPU_INDEX={cpu_index}", "TORCH=cpu")
    assert chosen.split()[-2:] == ["--extra-index-url", cpu_index]


def test_an_unreachable_cpu_index_leaves_pip_its_own_indexes(tmp_path: Path) -> None:
    """This machine and CI: no network to PyTorch's index, a local wheel pip already finds.
    Naming the index anyway would cost a network error per package, and minutes."""
    line = torch_install(tmp_path, False, "CPU_INDEX=http://127.0.0.1:9/whl/cpu")
    assert line.split()[-1] == "torch==2.13.0"


def test_the_console_script_runs_the_bot() -> None:
    """`python3 -m bot kinds` with the system's Python was a torch traceback: the venv has a
    command of its own."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"human-image-bot": "bot.__main__:main"}
    command = Path(sys.executable).parent / "human-image-bot"
    assert command.is_file(), f"{command}: reinstall the project (make test does)"
    result = subprocess.run([str(command), "kinds"], capture_output=True, text=True,
                            timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "kinds," in result.stdout and "seeds" in result.stdout
    assert ".venv/bin/human-image-bot" in (REPO / "README.md").read_text()
