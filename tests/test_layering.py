"""Package boundaries that keep the code's ideas in one home each."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "deepdetector"


def _all_imports(module: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _imports(module: Path) -> set[str]:
    """Every ``deepdetector...`` module a file imports."""
    return {name for name in _all_imports(module) if name.startswith("deepdetector")}


@pytest.mark.parametrize("package, forbidden", [("training", "deepdetector.evaluation"), ("evaluation", "deepdetector.training")])
def test_training_and_evaluation_do_not_import_each_other(package, forbidden):
    """What both need lives in datasets/, metrics.py, markdown.py, media/perturb.py and model/card.py."""
    offenders = {
        str(f.relative_to(PACKAGE)): sorted(n for n in _imports(f) if n == forbidden or n.startswith(forbidden + "."))
        for f in (PACKAGE / package).rglob("*.py")
    }
    assert {f: names for f, names in offenders.items() if names} == {}


def test_datasets_metrics_and_markdown_are_torch_free_and_import_neither():
    for module in [*(PACKAGE / "datasets").rglob("*.py"), PACKAGE / "metrics.py", PACKAGE / "markdown.py", PACKAGE / "media" / "perturb.py"]:
        names = _imports(module)
        assert not {n for n in names if n.startswith(("deepdetector.training", "deepdetector.evaluation"))}, module
        assert "torch" not in {n.split(".")[0] for n in _all_imports(module)}, module
