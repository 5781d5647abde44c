"""The layers are enforced: the import-linter contract in pyproject.toml holds for the code as
it is, and breaks as soon as an import runs the wrong way (a stage importing another stage, the
floor importing a stage)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "schemas", "producers", "streams", "sinks", "fieldstream")
LINT = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_code_keeps_the_layers(tmp_path: Path) -> None:
    result = lint(copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "message"),
    [
        ("producers/intake.py", "import streams.logic.process", "streams"),
        ("sinks/rows.py", "import producers.intake", "producers"),
        ("schemas/codec.py", "import sinks.rows", "sinks"),
        ("core/settings.py", "import fieldstream.board", "fieldstream"),
    ],
)
def test_an_import_the_wrong_way_breaks_the_contract(
    tmp_path: Path, module: str, bad_import: str, message: str
) -> None:
    tree = copy_tree(tmp_path)
    path = tree / module
    path.write_text(path.read_text() + f"\n{bad_import}  # noqa: E402\n")
    result = lint(tree)
    assert result.returncode != 0
    importer = module.removesuffix(".py").replace("/", ".")
    assert "BROKEN" in result.stdout and importer in result.stdout, result.stdout
    assert f"not allowed to import {message}" in result.stdout
