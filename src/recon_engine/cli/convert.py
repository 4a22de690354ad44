"""``mrrecon convert FILE [--seq SEQ] -o OUT.h5``: raw data (twix, + trajectory from the .seq) to ISMRMRD."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]


def _cmd_convert(args: argparse.Namespace) -> int:
    from recon_engine.io.convert import convert

    written = convert(args.file, args.output, seq=args.seq, overwrite=args.overwrite)
    print(written)
    return 0


def add_parser(sub: Any) -> None:
    """Register this module's sub-commands on the ``mrrecon`` sub-command parser."""
    pc = sub.add_parser("convert", help="write raw data (twix, optionally with its .seq) as ISMRMRD")
    pc.add_argument("file", help="raw data: Siemens twix (.dat) or ISMRMRD")
    pc.add_argument("--seq", help="Pulseq .seq file: its trajectory and labels are written too")
    pc.add_argument("-o", "--output", required=True, help="ISMRMRD output file (.h5/.mrd)")
    pc.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    pc.set_defaults(func=_cmd_convert)
