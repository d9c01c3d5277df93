"""The product apart from the lab: nothing under runtime/ or firmware/ imports the lab (tools) or torch, and only
the exam pipeline and the entry points above it combine the analysis stages."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("analysis", "morphology", "results")  # the stages the pipeline combines
UPPER = ("mammoedge.runtime.pipeline", "mammoedge.runtime.service", "mammoedge.runtime.cli")


def imports(path: Path) -> list[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved in the mammoedge namespace)."""
    package = ["mammoedge", *path.relative_to(ROOT).with_suffix("").parts][:-1]
    if path.name == "__init__.py":
        package = ["mammoedge", *path.parent.relative_to(ROOT).parts]
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            names.append(".".join([*base, *(node.module.split(".") if node.module else [])]))
    return names


def product_files() -> list[Path]:
    return sorted(p for folder in ("runtime", "firmware") for p in (ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", product_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_product_never_imports_the_lab_or_torch(path):
    bad = [n for n in imports(path) if n.split(".")[0] == "torch" or n.startswith("mammoedge.tools")]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_import_resolver_sees_relative_imports():
    names = imports(ROOT / "runtime" / "pipeline" / "exam.py")
    assert "mammoedge.runtime.analysis" in names and "mammoedge.runtime.pipeline.models" in names


def test_stages_do_not_import_the_pipeline_or_the_service():
    for stage in STAGES:
        for path in (ROOT / "runtime" / stage).rglob("*.py"):
            upward = [n for n in imports(path) if n.startswith(UPPER)]
            assert not upward, f"{path.relative_to(ROOT)} imports {upward}"
