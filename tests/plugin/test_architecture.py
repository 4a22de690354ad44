"""The plugin's rooms and what may import what (docs/architecture.md, "Plugin rooms"); pure AST, no Qt.

- Lower rooms never import the GUI toolkit: ``model/``, ``layers/`` and ``io/`` import none of
  qtpy, the Qt bindings, ``napari.qt``, superqt or magicgui (napari's layer model is fine).
- Rooms depend downwards only: ``model`` ← ``layers`` ← ``io`` ← ``_qt`` ← ``docks`` ← ``app``
  (``model`` imports no other room, ``_qt`` no dock, no room but ``app`` the application).
- A dock never imports another dock (``napari_mrrecon.docks.X`` may not import
  ``napari_mrrecon.docks.Y``); what two docks share lives in ``_qt/`` or a lower room.
- The plugin imports only public engine names: ``recon_engine``, a subpackage or public module
  ``recon_engine.X``, or a public module of a subpackage ``recon_engine.X.Y`` — nothing deeper,
  no path component and no imported name starting with ``_``.

Imports at any level (module top, functions, ``TYPE_CHECKING`` blocks) and
``importlib.import_module("...")`` / ``__import__("...")`` string literals are checked.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import napari_mrrecon

PLUGIN = Path(napari_mrrecon.__file__).parent
GUI_TOOLKIT = (
    "qtpy",
    "PyQt5",
    "PyQt6",
    "PySide2",
    "PySide6",
    "napari.qt",
    "napari._qt",
    "superqt",
    "magicgui",
)
#: Rooms, lowest first; a room may import itself and the rooms before it.
ROOMS = ("model", "layers", "io", "_qt", "docks", "app")
#: Private engine modules the plugin still needs, with the reason (listed for the engine to make public).
ENGINE_GAPS: dict[str, str] = {}


def _modules(tree: ast.AST) -> Iterator[tuple[str, tuple[str, ...]]]:
    """Every module ``tree`` imports, with the names taken from it (importlib strings included)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, tuple(a.name for a in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.args[0].value, ()


def _imports() -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """``(plugin module, imported module, names)`` for every import in the plugin."""
    for path in sorted(PLUGIN.rglob("*.py")):
        parts = path.relative_to(PLUGIN.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for imported, names in _modules(ast.parse(path.read_text(encoding="utf-8"))):
            yield module, imported, names


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "napari_mrrecon" and parts[1] in ROOMS else None


def _dock(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["napari_mrrecon", "docks"] else None


def test_every_plugin_module_is_in_a_room() -> None:
    loose = [
        p.name for p in PLUGIN.glob("*.py") if p.name != "__init__.py"
    ]  # only the package docstring at the top
    assert loose == []
    assert {p.name for p in PLUGIN.iterdir() if p.is_dir() and not p.name.startswith("__")} == set(ROOMS)


def test_lower_rooms_import_no_gui_toolkit() -> None:
    offenders = [
        f"{module}: {imported}"
        for module, imported, _ in _imports()
        if _room(module) in ("model", "layers", "io")
        and any(imported == gui or imported.startswith(gui + ".") for gui in GUI_TOOLKIT)
    ]
    assert offenders == []


def test_rooms_depend_downwards() -> None:
    offenders = []
    for module, imported, _ in _imports():
        here, there = _room(module), _room(imported)
        if here is not None and there is not None and ROOMS.index(there) > ROOMS.index(here):
            offenders.append(f"{module} ({here}) imports {imported} ({there})")
    assert offenders == []


def test_docks_do_not_import_each_other() -> None:
    offenders = [
        f"{module} imports {imported}"
        for module, imported, _ in _imports()
        if _dock(module) is not None and _dock(imported) is not None and _dock(module) != _dock(imported)
    ]
    assert offenders == []


def test_plugin_imports_only_public_engine_names() -> None:
    offenders, gaps_used = [], set()
    for module, imported, names in _imports():
        parts = imported.split(".")
        if parts[0] != "recon_engine":
            continue
        if imported in ENGINE_GAPS:
            gaps_used.add(imported)
            continue
        private = [p for p in parts if p.startswith("_")] + [n for n in names if n.startswith("_")]
        if private or len(parts) > 3:
            offenders.append(f"{module}: {imported} {names}")
    assert offenders == []
    assert gaps_used == set(ENGINE_GAPS), "an engine gap was closed: remove it from ENGINE_GAPS"


def test_the_checks_see_importlib_strings() -> None:
    tree = ast.parse(
        'import importlib\nimportlib.import_module("recon_engine.io._atomic")\n__import__("x.y")'
    )
    assert [m for m, _ in _modules(tree)] == ["importlib", "recon_engine.io._atomic", "x.y"]
