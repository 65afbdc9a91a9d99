"""The project's layering, checked (docs/ARCHITECTURE.md says the same in words).

- model/ knows tensors and nothing of the bot: no model module imports or loads a bot module
  (the explorer reads the bot's state file by its schema, never through bot.state.store).
- bot/ uses model/ through one door, model.serve, plus the four shared modules at model/'s top
  (errors, device, files, figures); bot/platforms/ and the pure decision load neither torch
  nor any model module.
- model/ and bot/ have no import cycle (imports inside functions included), no function over 80
  lines and no module over 400 lines.
- bot/conversation/, the pure side (commands, kinds, the decision, the texts), loads neither
  torch nor any model module, nor sqlite3 (it does no I/O), each module alone in a fresh
  interpreter.
- docs/ARCHITECTURE.md names every package and module of model/, every package of bot/ and the
  modules at bot/'s top, and the same door.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# the serving API, and the small shared modules at model/'s top
BOT_MAY_USE = {"model.serve", "model.errors", "model.device", "model.files", "model.figures"}
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 400


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
            # "from model.train import distributed": the submodule is what is imported
            names |= {f"{node.module}.{a.name}" for a in node.names
                      if (REPO / node.module.replace(".", "/") / f"{a.name}.py").is_file()}
    return names


def bot_violations(path: Path) -> list[str]:
    """model modules a bot/ file imports beyond the serving API."""
    used = {n for n in imported_names(path) if n == "model" or n.startswith("model.")}
    return sorted(used - BOT_MAY_USE)


def model_violations(path: Path) -> list[str]:
    """bot modules a model/ file imports: none may."""
    return sorted(n for n in imported_names(path) if n == "bot" or n.startswith("bot."))


def import_graph(package: str = "model") -> dict[str, set[str]]:
    """module -> the modules of the same package its import statements name (in functions
    too)."""
    names = set(modules(package))
    graph = {}
    for module in names:
        base = REPO / module.replace(".", "/")
        path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        graph[module] = {n for n in imported_names(path) if n in names and n != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of a graph, each as the path that closes it (depth-first search)."""
    found, state = [], {}  # state: 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def long_functions(root: Path, limit: int) -> list[str]:
    """Every function (methods and nested ones included) of the .py files under root that is
    longer than limit lines, as path:line name length."""
    out = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    out.append(f"{path.relative_to(root)}:{node.lineno} {node.name} {lines}")
    return out


def test_no_model_module_loads_the_bot() -> None:
    """Every model module imported in turn in one fresh interpreter: the first that loads a
    bot module is named (one process, not one per module: each would load torch again)."""
    code = ("import importlib, json, sys\n"
            f"for m in {modules('model')!r}:\n"
            "    importlib.import_module(m)\n"
            "    bot = [n for n in sys.modules if n == 'bot' or n.startswith('bot.')]\n"
            "    if bot:\n"
            "        print(json.dumps([m, bot])); break\n"
            "else:\n"
            "    print(json.dumps(None))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) is None


@pytest.mark.parametrize("module", [m for m in modules("bot") if m.startswith("bot.platforms")])
def test_platforms_load_no_tensors(module: str) -> None:
    loaded = loaded_by(module)
    bad = [m for m in loaded if m == "torch" or m == "model" or m.startswith("model.")]
    assert bad == [], f"import {module} loads {bad[:5]}"


@pytest.mark.parametrize("module", [m for m in modules("bot")
                                    if m.startswith("bot.conversation")])
def test_the_pure_decision_loads_no_tensors(module: str) -> None:
    """The decision does no I/O and loads neither torch nor any model module (DESIGN.md,
    docs/ARCHITECTURE.md), and neither do the parser, the kinds matcher and the sentences it
    answers with: every module of bot/conversation/, each alone. No sqlite3 either: the state
    file is the service's business, and the records the decision reads are plain values."""
    loaded = loaded_by(module)
    bad = [m for m in loaded if m in ("torch", "model", "sqlite3") or m.startswith("model.")]
    assert bad == [], f"import {module} loads {bad[:5]}"


def test_the_bot_uses_the_model_only_through_its_serving_api() -> None:
    found = {str(p.relative_to(REPO)): bot_violations(p) for p in (REPO / "bot").rglob("*.py")}
    assert {k: v for k, v in found.items() if v} == {}


def test_model_sources_never_name_the_bot() -> None:
    found = {str(p.relative_to(REPO)): model_violations(p) for p in (REPO / "model").rglob("*.py")}
    assert {k: v for k, v in found.items() if v} == {}


def test_model_has_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_bot_has_no_import_cycle() -> None:
    """Among bot/'s modules either: the drawing code and the texts no longer import each other
    (the texts read a bot.conversation.drawn.Drawn, never a Drawing)."""
    graph = import_graph("bot")
    assert "bot.conversation.texts" in graph and "bot.service.loop" in graph  # it sees bot/
    assert cycles(graph) == []


@pytest.mark.parametrize("package", ["model", "bot"])
def test_no_function_over_80_lines_and_no_module_over_400(package: str) -> None:
    assert long_functions(REPO / package, MAX_FUNCTION_LINES) == []
    big = {str(p.relative_to(REPO)): n for p in (REPO / package).rglob("*.py")
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert big == {}


def test_the_architecture_page_names_the_tree_and_the_door() -> None:
    """docs/ARCHITECTURE.md, the tree and this test say the same thing: every package and module
    of model/ is named there (as `name/` or `name.py` in its package's section), and its
    one-line rule for the bot lists exactly BOT_MAY_USE."""
    page = (REPO / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    rule = re.search(r"^The bot may import: (.+)\.$", page, re.MULTILINE)
    assert rule, "docs/ARCHITECTURE.md lost its line 'The bot may import: ...'"
    assert set(re.findall(r"`(model[\w.]*)`", rule.group(1))) == BOT_MAY_USE
    missing = []
    for path in sorted((REPO / "model").rglob("*.py")):
        rel = path.relative_to(REPO / "model")
        if rel.name == "__init__.py":
            name = f"`{rel.parent.as_posix()}/`" if rel.parent != Path(".") else None
        else:
            name = f"`{rel.name}`"
        if name and name not in page:
            missing.append(str(rel))
    # bot/: every package (as `name/`) and every module at its top (as `name.py`)
    for path in sorted((REPO / "bot").iterdir()):
        if path.is_dir() and (path / "__init__.py").is_file():
            name = f"`{path.name}/`"
        elif path.suffix == ".py" and path.name != "__init__.py":
            name = f"`{path.name}`"
        else:
            continue
        if name not in page:
            missing.append(f"bot/{path.name}")
    assert missing == []


def test_the_checks_report_what_breaks_the_rules(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nfrom model.serve import serve\n\n\ndef f():\n"
                   "    from model.train import main\n    import bot.service\n"
                   "    from model.train import distributed\n")
    assert bot_violations(bad) == ["model.train", "model.train.distributed"]  # in a function too
    assert model_violations(bad) == ["bot.service"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []
    (tmp_path / "long.py").write_text("def f():\n" + "    x = 1\n" * 79 + "\n\n"
                                      "class C:\n    def g(self):\n" + "        y = 2\n" * 80)
    assert long_functions(tmp_path, 80) == ["long.py:84 g 81"]  # f is 80: allowed
