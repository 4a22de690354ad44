"""``mrrecon stream FILE -o OUT``: send an ISMRMRD raw file to an MRD server and save the images.

Exit status: 0 when images came back and the server reported no error; 1 when the server
sent error texts or did not close the stream cleanly (images that did arrive are saved);
2 for bad usage (missing file, no server, no image at all).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def _cmd_stream(args: argparse.Namespace) -> int:
    from recon_engine.errors import ParameterError
    from recon_engine.server import save_images, stream_file
    from recon_engine.server.protocol import CONFIG_FILE_SIZE

    config_text = Path(args.config_text).read_text() if args.config_text else None
    if len(args.config.encode()) >= CONFIG_FILE_SIZE:
        raise ParameterError(f"--config name must be shorter than {CONFIG_FILE_SIZE} bytes")
    result = stream_file(
        args.file,
        args.host,
        args.port,
        config=args.config,
        config_text=config_text,
        timeout_s=args.timeout,
        waveforms=not args.no_waveforms,
    )
    for text in result.texts:
        print(f"server: {text}", file=sys.stderr)
    if result.error:
        print(f"mrrecon stream: {result.error}", file=sys.stderr)
    written = save_images(result.images, args.output, header_xml=result.header_xml) if result.images else []
    if not written:
        from recon_engine.errors import DataError

        raise DataError(f"the server at {args.host}:{args.port} sent no image back")
    if not args.quiet:
        for p in written:
            print(p)
        print(
            f"{len(result.images)} image(s), {result.acquisitions} acquisitions, "
            f"{result.waveforms} waveforms, {result.seconds:.2f} s",
            file=sys.stderr,
        )
    return 0 if result.closed and not result.errors and not result.error else 1


def add_parser(sub: Any) -> None:
    """Register ``mrrecon stream``."""
    p = sub.add_parser("stream", help="stream an ISMRMRD raw file to an MRD server and save the images")
    p.add_argument("file", help="ISMRMRD raw data (.h5/.mrd)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9002)
    p.add_argument(
        "--config",
        default="default",
        help="config: default, a method (sense, grappa, ...) or a recipe name",
    )
    p.add_argument("--config-text", metavar="FILE", help="send this file's text as config (a recipe)")
    p.add_argument("-o", "--output", required=True, help="output: .h5 (ISMRMRD images), .npy, .nii")
    p.add_argument(
        "--no-waveforms", action="store_true", help="do not send the file's waveforms (physiology)"
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the server")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_stream)
