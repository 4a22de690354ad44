"""``mrrecon serve``: an MRD streaming server that reconstructs what a scanner (or client) sends."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def _cmd_serve(args: argparse.Namespace) -> int:
    from recon_engine.errors import ExportError
    from recon_engine.recipe import load_recipe
    from recon_engine.server import MRDServer, ServerSettings

    recipe = load_recipe(args.recipe) if args.recipe else None
    recipe_dir = (
        Path(args.recipe_dir) if args.recipe_dir else (Path(args.recipe).parent if args.recipe else None)
    )
    save_dir = Path(args.save_dir) if args.save_dir else None
    if save_dir is not None and not save_dir.is_dir():
        raise ExportError(f"save directory {save_dir} does not exist")
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(message)s"
    )
    settings = ServerSettings(recipe=recipe, recipe_dir=recipe_dir, save_dir=save_dir, device=args.device)
    server = MRDServer(
        (args.host, args.port),
        settings,
        idle_timeout_s=args.idle_timeout,
        max_connections=args.max_connections,
    )
    what = f"recipe {args.recipe}" if recipe else "the suggested method per slice"
    print(f"mrrecon serve: listening on {args.host}:{server.port} ({what}); Ctrl-C stops", file=sys.stderr)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("mrrecon serve: stopping", file=sys.stderr)
    finally:
        server.server_close()
    return 0


def add_parser(sub: Any) -> None:
    """Register ``mrrecon serve``."""
    p = sub.add_parser(
        "serve",
        help="online reconstruction server (MRD streaming protocol of ismrmrd-server/Gadgetron)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=9002, help="TCP port (default 9002; 0 picks a free one)")
    p.add_argument("--recipe", help="default recipe YAML (else the suggested method for each slice)")
    p.add_argument("--recipe-dir", help="recipes a client may name as config (default: the recipe's folder)")
    p.add_argument("--save-dir", help="also save every connection's images here (ISMRMRD .h5)")
    p.add_argument("--device", default="auto", help="device of methods named by a client: auto, cpu or cuda")
    p.add_argument("--max-connections", type=int, default=8, help="connections served at once")
    p.add_argument("--idle-timeout", type=float, default=300.0, help="drop a client silent this long (s)")
    p.add_argument("-q", "--quiet", action="store_true", help="log only warnings and errors")
    p.set_defaults(func=_cmd_serve)
