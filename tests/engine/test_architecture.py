"""The engine never imports the GUI stack (DESIGN.md: one direction of dependency)."""

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
