"""``mrrecon simulate SEQ [--phantom ...] [--matrix N] [--coils 8] [--noise σ] [--b0 MAP] -o raw.h5``.

Simulates a Pulseq sequence on a phantom (:func:`recon_engine.simulate.seq_sim.simulate_seq`)
and writes the raw data as ISMRMRD; ``mrrecon recon raw.h5`` reconstructs it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser"]


def _cmd_simulate(args: argparse.Namespace) -> int:
    from recon_engine.io.ismrmrd_write import write_ismrmrd
    from recon_engine.progress import ProgressEvent
    from recon_engine.simulate.seq_sim import simulate_seq

    def show(event: ProgressEvent) -> None:
        if not args.quiet:
            print(f"\rsimulate {100 * event.fraction:5.1f} %", end="", file=sys.stderr, flush=True)

    matrix = None if args.matrix is None else (args.matrix, args.matrix)
    ks = simulate_seq(
        args.seq,
        args.phantom,
        progress=show,
        coils=args.coils,
        noise=args.noise,
        b0=args.b0,
        isochromats=args.isochromats,
        matrix=matrix,
        spoiling=args.spoiling,
        seed=args.seed,
        device=args.device,
    )
    path = write_ismrmrd(ks, args.output, overwrite=args.overwrite)
    info = ks.meta["simulation"]
    if not args.quiet:
        print(file=sys.stderr)
    print(
        f"{path}: {ks.shape} {ks.header.trajectory}, {info['isochromats']} isochromats, "  # type: ignore[index]
        f"{info['seconds']:.2f} s ({info['isochromat_steps_per_s']:.3g} isochromat-steps/s, {info['device']})"  # type: ignore[index]
    )
    return 0


def add_parser(sub: Any) -> None:
    """Register ``mrrecon simulate`` on the ``mrrecon`` sub-command parser."""
    p = sub.add_parser("simulate", help="simulate a Pulseq .seq on a phantom and write ISMRMRD raw data")
    p.add_argument("seq", help="Pulseq .seq file (versions 1.2-1.5)")
    p.add_argument("--phantom", default="brain", help="brain | shepp-logan | maps .npz/.npy/NIfTI")
    p.add_argument("--matrix", type=int, help="phantom grid N x N (default: the sequence's matrix)")
    p.add_argument("--coils", type=int, default=8, help="receive coils (ring array)")
    p.add_argument("--noise", type=float, default=0.0, help="noise standard deviation per k-space sample")
    p.add_argument("--b0", default=None, help="B0 map in Hz (.npy/.npz/NIfTI) or 'none'")
    p.add_argument("--isochromats", type=int, default=4, help="isochromats per voxel")
    p.add_argument("--spoiling", choices=("sequence", "ideal"), default="sequence")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("-o", "--output", required=True, help="output ISMRMRD file (.h5)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=_cmd_simulate)
