"""``mrrecon info FILE [--seq SEQ] [--json]``: what a raw data file holds (header, acquisitions)."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser"]


def _fmt(v: Any) -> str:
    if isinstance(v, list | tuple):
        return " × ".join(_fmt(x) for x in v) if v else "—"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {x}" for k, x in v.items() if x) or "—"
    return "—" if v is None else str(v)


def _cmd_info(args: argparse.Namespace) -> int:
    from recon_engine.api import info

    d = info(args.file, seq=args.seq)
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    labels = {
        "encoded_matrix": "encoded matrix (x, y, z)",
        "recon_matrix": "recon matrix (x, y, z)",
        "encoded_fov_mm": "encoded FOV (mm)",
        "recon_fov_mm": "recon FOV (mm)",
        "readout_oversampling": "readout oversampling",
        "coils": "coils",
        "trajectory": "trajectory",
        "acceleration_nominal": "acceleration (header R1 × R2)",
        "acceleration_effective": "acceleration (sampled)",
        "acquisitions": "acquisitions",
        "acquisitions_by_kind": "by kind",
        "acquisitions_by_flag": "by flag",
        "te_ms": "TE (ms)",
        "tr_ms": "TR (ms)",
        "ti_ms": "TI (ms)",
        "flip_angle_deg": "flip angle (deg)",
        "field_strength_t": "field strength (T)",
        "position_mm": "position (mm, LPS)",
        "protocol": "protocol",
        "system": "system",
        "sequence": "sequence",
    }
    print(d["file"])
    for key, label in labels.items():
        print(f"  {label:32s} {_fmt(d.get(key))}")
    return 0


def add_parser(sub: Any) -> None:
    """Register this module's sub-commands on the ``mrrecon`` sub-command parser."""
    pi = sub.add_parser("info", help="show what a raw data file holds (header and acquisitions)")
    pi.add_argument("file", help="raw data: ISMRMRD (.h5/.mrd) or Siemens twix (.dat)")
    pi.add_argument("--seq", help="Pulseq .seq file that produced the data")
    pi.add_argument("--json", action="store_true", help="print JSON")
    pi.set_defaults(func=_cmd_info)
