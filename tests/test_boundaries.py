"""The project's layering, checked: each module imported alone in a fresh interpreter.

- model/ knows tensors and nothing of the bot: importing any model module loads no bot module.
- bot/platforms/ knows HTTP and nothing of tensors: no torch, no model module.
- the rest of bot/ uses model/ only through its serving API: the sampler, the checkpoint files,
  the device choice and the one-line UserError, plus the benchmark figures that bot.bench
  reports like model.bench (docs/ARCHITECTURE.md).

One documented exception: the explorer's --state option reads the bot's state file through
bot.state, imported inside model.explore's provider only when --state is given.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# the serving API, and the figures both benchmarks report alike
BOT_MAY_USE = {"model.sampler", "model.kinds", "model.checkpoint", "model.device",
               "model.errors", "model.figures"}
LAZY_EXCEPTIONS = {("model", "bot.state")}  # (package, module): see the docstring


def modules(package: str) -> list[str]:
    root = REPO / package
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def loaded_by(module: str) -> list[str]:
    """Every module a fresh interpreter has loaded after `import module`."""
    code = (f"import sys, json; import {module}; "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.splitlines()[-1])


def imported_names(path: Path) -> set[str]:
    """Every module named by an import statement anywhere in the file (functions included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def bot_violations(path: Path) -> list[str]:
    """model modules a bot/ file imports beyond the serving API."""
    used = {n for n in imported_names(path) if n == "model" or n.startswith("model.")}
    return sorted(used - BOT_MAY_USE)


def model_violations(path: Path) -> list[str]:
    """bot modules a model/ file imports, but for the documented exception."""
    used = {n for n in imported_names(path) if n == "bot" or n.startswith("bot.")}
    return sorted(used - {m for package, m in LAZY_EXCEPTIONS if package == "model"})


@pytest.mark.parametrize("module", modules("model"))
def test_model_modules_never_load_the_bot(module: str) -> None:
    bot = [m for m in loaded_by(module) if m == "bot" or m.startswith("bot.")]
    assert bot == [], f"import {module} loads {bot}"


@pytest.mark.parametrize("module", [m for m in modules("bot") if m.startswith("bot.platforms")])
def test_platforms_load_no_tensors(module: str) -> None:
    loaded = loaded_by(module)
    bad = [m for m in loaded if m == "torch" or m == "model" or m.startswith("model.")]
    assert bad == [], f"import {module} loads {bad[:5]}"


@pytest.mark.parametrize("module", ["bot.decision", "bot.commands", "bot.texts"])
def test_the_pure_decision_loads_no_tensors(module: str) -> None:
    """The decision does no I/O and loads no torch (DESIGN.md, docs/ARCHITECTURE.md), and
    neither do the parser and the sentences it answers with."""
    loaded = loaded_by(module)
    bad = [m for m in loaded if m == "torch" or m == "model" or m.startswith("model.")]
    assert bad == [], f"import {module} loads {bad[:5]}"


def test_the_bot_uses_the_model_only_through_its_serving_api() -> None:
    found = {str(p.relative_to(REPO)): bot_violations(p) for p in (REPO / "bot").rglob("*.py")}
    assert {k: v for k, v in found.items() if v} == {}


def test_model_sources_name_the_bot_only_in_the_documented_place() -> None:
    found = {str(p.relative_to(REPO)): model_violations(p) for p in (REPO / "model").rglob("*.py")}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_checks_report_a_module_that_breaks_the_rules(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nfrom model.sampler import serve\n\n\ndef f():\n"
                   "    from model.train import main\n    import bot.service\n"
                   "    from bot.state import State\n")
    assert bot_violations(bad) == ["model.train"]  # found inside a function too
    assert model_violations(bad) == ["bot.service"]  # bot.state is the one exception
