"""The layers import downwards only: the core knows no platform, no NLU and no dialog.

``bot/`` is the core; ``adapters/``, ``nlu/`` and ``dialog/`` build on it; ``service/``
(the composition root: CLI, app, wiring) is the only package that imports them all.
Every import counts, also one inside a function or under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# package -> the top-level packages of this project it must not import
FORBIDDEN = {
    "bot": {"adapters", "nlu", "dialog", "service"},
    "adapters": {"service", "nlu", "dialog"},
    "nlu": {"service", "adapters", "dialog"},
    "dialog": {"service", "adapters"},
}


def imported_packages(path: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level package) of every absolute import in one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules, f"no modules under {package}/"
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {top}"
        for path in modules
        for line, top in imported_packages(path)
        if top in FORBIDDEN[package]
    ]
    assert wrong == []


def test_the_check_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from dialog import x\n"
        "def f():\n    import adapters.slack\n",
        encoding="utf-8",
    )
    assert {top for _, top in imported_packages(module)} >= {"dialog", "adapters"}
