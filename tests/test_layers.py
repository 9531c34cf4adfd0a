"""The layers of DESIGN.md, checked by import-linter (contracts in pyproject.toml), and the packaging
that maps kernels/ into lretjax.

``lint-imports`` must pass on the tree, and must fail on a copy of the tree into which an upward
import (and an import circle) was written: the contracts catch the day such an arrow appears.
"""

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CONTRACTS = {c["id"]: c for c in PYPROJECT["tool"]["importlinter"]["contracts"]}


def _lint_imports() -> str:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).exists():
        pytest.skip("import-linter is not installed: pip install 'lretjax[test]' (or import-linter)")
    return exe


def _run(cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([_lint_imports(), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_lint_imports_passes():
    out = _run(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_an_upward_import_or_a_circle_fails(tmp_path):
    _lint_imports()
    for name in ("lretjax", "kernels"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    assert _run(tmp_path).returncode == 0  # the copy itself is clean
    # An op primitive reaching up to simulate, and the IR reaching up to noise ...
    apply = tmp_path / "lretjax" / "ops" / "apply.py"
    apply.write_text(apply.read_text() + "\nfrom ..simulate import simulate  # noqa\n")
    circuit = tmp_path / "lretjax" / "circuit.py"
    circuit.write_text(circuit.read_text() + "\nfrom .noise import model  # noqa\n")
    # ... and a circle between two siblings.
    forms = tmp_path / "lretjax" / "noise" / "forms.py"
    forms.write_text(forms.read_text() + "\nfrom . import model  # noqa\n")
    model = tmp_path / "lretjax" / "noise" / "model.py"
    model.write_text(model.read_text() + "\nfrom . import forms  # noqa\n")
    out = _run(tmp_path)
    text = " ".join((out.stdout + out.stderr).split())
    assert out.returncode != 0
    assert "BROKEN" in text
    assert "lretjax.ops.apply -> lretjax.simulate" in text
    assert "lretjax.circuit -> lretjax.noise.model" in text
    assert "No import circles between sibling modules BROKEN" in text
    assert "No cycles are allowed in lretjax.noise" in text and ".model -> .forms" in text


def _layer_modules() -> set[str]:
    names = set()
    for layer in CONTRACTS["layers"]["layers"]:
        names |= {part.strip().strip("()") for part in layer.split("|")}
    return {f"lretjax.{n}" for n in names}


def test_the_layers_name_every_module_and_the_front_door_contract_sorts_them_all():
    """The layers contract is exhaustive (import-linter checks it lists every module); the
    forbidden contract must then put each of them on one side: engine or front door."""
    front = CONTRACTS["front-doors"]
    sides = set(front["source_modules"]) | set(front["forbidden_modules"])
    assert not set(front["source_modules"]) & set(front["forbidden_modules"])
    support = {"lretjax.frontdoor", "lretjax.kernels"}  # front-door helpers; kernels: see below
    assert _layer_modules() - support == sides
    assert CONTRACTS["layers"]["exhaustive"] is True


def _imports(path: Path) -> list[tuple[str, int]]:
    """Absolute names a file imports (relative imports resolved), with line numbers."""
    package = list(path.relative_to(ROOT).parts[:-1])  # the package a relative import starts from
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.append((mod, node.lineno))
            out += [(f"{mod}.{a.name}" if mod else a.name, node.lineno) for a in node.names]
    return out


def test_only_ops_imports_the_kernels():
    """import-linter cannot see lretjax.kernels (setuptools maps it from kernels/, outside the
    lretjax folder), so the design's rule "nothing above ops touches kernels" is checked here."""
    bad = []
    for path in sorted((ROOT / "lretjax").rglob("*.py")):
        if (ROOT / "lretjax" / "ops") in path.parents:
            continue
        for name, line in _imports(path):
            if name == "kernels" or name.startswith(("kernels.", "lretjax.kernels")):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, bad


def test_kernels_are_mapped_into_the_package_without_a_shim():
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"lretjax.kernels": "kernels"}
    assert not (ROOT / "lretjax" / "kernels.py").exists()
    listed = set(setuptools["packages"])
    folders = {"lretjax"} | {".".join(p.relative_to(ROOT).parts) for p in (ROOT / "lretjax").rglob("*")
                             if p.is_dir() and p.name != "__pycache__" and any(p.iterdir())}
    missing = folders - listed
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"
    assert "lretjax.kernels" in listed
    import lretjax.kernels

    assert Path(lretjax.kernels.__file__).parent == ROOT / "kernels"
