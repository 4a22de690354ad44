"""Where the napari plugin lives, by module name (the engine never imports it).

Only :mod:`recon_engine.cli` may name ``napari_mrrecon`` (tests/engine/test_architecture.py
checks imports and importlib strings). ``mrrecon gui`` imports :data:`LAUNCH_MODULE` when it
runs; ``mrrecon bench`` runs :data:`GUI_PROBE_MODULE` in a subprocess (``python -m``).
"""

from __future__ import annotations

__all__ = ["GUI_PROBE_MODULE", "LAUNCH_MODULE"]

#: Module with ``launch(files, *, screenshot, quit, sample, explorer, explorer_settings) -> int``.
LAUNCH_MODULE = "napari_mrrecon.app.launch"

#: Module run as ``python -m GUI_PROBE_MODULE --json [--quick] --device D`` by ``mrrecon bench``.
GUI_PROBE_MODULE = "napari_mrrecon.app.bench_gui"
