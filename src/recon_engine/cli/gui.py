"""``mrrecon gui [FILE...] [--screenshot PNG] [--quit] [--explorer-settings JSON]``: napari with the plugin.

The engine never imports napari: the launcher is imported by its module name
(:data:`recon_engine.cli._plugin.LAUNCH_MODULE`) when the command runs.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from recon_engine.cli._plugin import LAUNCH_MODULE
from recon_engine.errors import ReconError

__all__ = ["add_parser"]


def _cmd_gui(args: argparse.Namespace) -> int:
    import importlib

    try:  # the plugin is a separate import package; the engine itself never imports napari
        launch = importlib.import_module(LAUNCH_MODULE).launch
    except ImportError as exc:
        raise ReconError(f"the napari GUI is not available ({exc}); install napari-mrrecon[pyqt6]") from exc
    try:
        settings = None if args.explorer_settings is None else json.loads(args.explorer_settings)
    except json.JSONDecodeError as exc:
        raise ReconError(f"--explorer-settings is not valid JSON ({exc})") from exc
    if settings is not None and not isinstance(settings, dict):
        raise ReconError("--explorer-settings must be a JSON object, e.g. '{\"acceleration\": 4}'")
    return int(
        launch(
            list(args.files),
            screenshot=args.screenshot,
            quit=args.quit,
            sample=not args.no_sample,
            explorer=args.explorer,
            explorer_settings=settings,
        )
    )


def add_parser(sub: Any) -> None:
    """Register this module's sub-commands on the ``mrrecon`` sub-command parser."""
    pg = sub.add_parser("gui", help="open napari with the plugin, load and reconstruct files")
    pg.add_argument("files", nargs="*", help="raw data files to load (default: the sample dataset)")
    pg.add_argument("--screenshot", metavar="PNG", help="save the window once loading is done")
    pg.add_argument("--quit", action="store_true", help="exit after loading (and the screenshot)")
    pg.add_argument("--no-sample", action="store_true", help="do not load the sample dataset")
    pg.add_argument("--explorer", action="store_true", help="open the K-space Explorer (teaching) instead")
    pg.add_argument(
        "--explorer-settings",
        metavar="JSON",
        help="K-space Explorer settings as a JSON object (implies --explorer), e.g. '{\"acceleration\": 4}'",
    )
    pg.set_defaults(func=_cmd_gui)
