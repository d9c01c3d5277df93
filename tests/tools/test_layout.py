"""The lab's shape: no import circle in tools/, model families that never import each other, lab commands
whose ``--help`` needs no PyTorch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mammoedge.tools

TOOLS = Path(mammoedge.tools.__file__).parent
PREFIX = "mammoedge.tools"


def _modules() -> dict[str, Path]:
    out = {}
    for path in TOOLS.rglob("*.py"):
        parts = list(path.relative_to(TOOLS).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([PREFIX, *parts])] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every tools module ``name`` imports, at module level or inside a function (a lazy import still ties
    the two modules together)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules]
            # ``from package import submodule`` needs the submodule, not what the package's __init__ holds
            targets = submodules + ([base] if len(submodules) < len(node.names) else [])
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_walker_finds_a_cycle_when_there_is_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    graph = _graph()  # and it sees real edges, lazy ones included
    assert f"{PREFIX}.training" in graph[f"{PREFIX}.detector.train"]
    assert f"{PREFIX}.detector.train" in graph[f"{PREFIX}.detector.export"]  # imported inside export_onnx


def test_no_import_circle_in_tools():
    assert _cycles(_graph()) == []


def test_model_families_do_not_import_each_other():
    families = {p.parent.name for p in TOOLS.glob("*/model.py")}
    assert {"detector", "morphology"} <= families
    crossings = [(name, target) for name, targets in _graph().items() for target in targets
                 if name.startswith(f"{PREFIX}.") and target.startswith(f"{PREFIX}.")
                 and (a := name.split(".")[2]) in families and (b := target.split(".")[2]) in families and a != b]
    assert crossings == []


def test_model_families_have_the_same_files():
    for family in ("detector", "morphology"):
        assert {p.stem for p in (TOOLS / family).glob("*.py")} >= {"cli", "model", "data", "train", "export",
                                                                   "evaluate", "view_eval"}


BLOCK_TORCH = """
import argparse, contextlib, io, sys
sys.modules["torch"] = None  # any import of torch now fails
from mammoedge.tools import evaluate, export, train
for module, argv in ((train, ["detector", "--help"]), (train, ["morphology", "--help"]),
                     (export, ["detector", "--help"]), (evaluate, ["split-levels", "--help"]),
                     (evaluate, ["observer", "--help"])):
    parser = argparse.ArgumentParser(prog="mammoedge")
    module.add_arguments(parser)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            parser.parse_args(argv)
        except SystemExit as done:
            assert done.code == 0, argv
    assert "--" in out.getvalue(), argv
print("ok")
"""


def test_lab_command_help_needs_no_torch():
    result = subprocess.run([sys.executable, "-c", BLOCK_TORCH], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


EVALUATE_WITHOUT_TORCH = """
import sys
sys.modules["torch"] = None  # any import of torch now fails
from mammoedge.runtime.cli import main
sys.exit(main(["evaluate", "detector", "--patches", "6", "--exams", "0", "--bootstrap", "5", "--out", sys.argv[1]]))
"""


def test_evaluating_the_shipped_detector_needs_no_torch(tmp_path):
    """The evaluation runs the ONNX files: the lab's evaluate path imports no PyTorch."""
    result = subprocess.run([sys.executable, "-c", EVALUATE_WITHOUT_TORCH, str(tmp_path)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "INT8 openvino" in result.stdout and (tmp_path / "evaluation.json").exists()
