"""The engine's architecture rules (DESIGN.md: one direction of dependency; docs/architecture.md).

- The engine never imports the GUI stack (napari, Qt, magicgui, vispy, superqt).
- Only the application layer ``recon_engine.cli`` may name the plugin ``napari_mrrecon``, and
  only by module-name strings (never an import), in ``cli/_plugin.py``: imports, importlib
  strings and any other string literal naming it are checked.
- The application layer stays on top: no engine module outside ``cli/`` imports ``recon_engine.cli``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import recon_engine

GUI = {"napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "vispy", "superqt"}
ENGINE = Path(recon_engine.__file__).parent


def test_no_gui_imports_in_engine_source() -> None:
    offenders = []
    for f in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{f.name}: {n}" for n in names if n.split(".")[0] in GUI]
    assert offenders == []


def test_engine_run_loads_no_gui_module() -> None:
    code = (
        "import sys, torch, recon_engine as mr\n"
        "from tests.engine.reconstructions.test_direct_recon import make_kspace\n"
        "mr.reconstruct(make_kspace(), combine='adaptive')\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(GUI)!r})\n"
        "print(','.join(bad))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ENGINE.parents[1], check=True
    )
    assert r.stdout.strip() == ""


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(f, ast.parse(f.read_text())) for f in sorted(ENGINE.rglob("*.py"))]


def _imported(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def _strings(tree: ast.Module) -> list[str]:
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_only_cli_plugin_module_names_the_plugin() -> None:
    offenders = []
    for f, tree in _modules():
        rel = f.relative_to(ENGINE).as_posix()
        imports = [n for n in _imported(tree) if n.split(".")[0] == "napari_mrrecon"]
        offenders += [f"{rel}: import {n}" for n in imports]
        named = [s for s in _strings(tree) if s.startswith("napari_mrrecon.") or s == "napari_mrrecon"]
        if named and rel != "cli/_plugin.py":
            offenders += [f"{rel}: string {s!r}" for s in named]
    assert offenders == []


def test_plugin_module_names_exist() -> None:
    from importlib.util import find_spec

    from recon_engine.cli import _plugin

    for name in (_plugin.LAUNCH_MODULE, _plugin.GUI_PROBE_MODULE):
        assert find_spec(name) is not None, name


def test_application_layer_is_on_top() -> None:
    offenders = []
    for f, tree in _modules():
        rel = f.relative_to(ENGINE).as_posix()
        if rel.startswith("cli/"):
            continue
        offenders += [
            f"{rel}: {n}"
            for n in _imported(tree)
            if n == "recon_engine.cli" or n.startswith("recon_engine.cli.")
        ]
        offenders += [f"{rel}: string {s!r}" for s in _strings(tree) if s.startswith("recon_engine.cli")]
    assert offenders == []
