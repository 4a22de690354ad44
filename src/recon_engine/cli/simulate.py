"""``mrrecon simulate SEQ [--phantom ...] [--matrix N] [--coils 8] [--noise σ] [--b0 MAP] -o raw.h5``.

Simulates a Pulseq sequence on a phantom (:func:`recon_engine.simulate.seq_sim.simulate_seq`)
and writes the raw data as ISMRMRD; ``mrrecon recon raw.h5`` reconstructs it.

``mrrecon simulate --qmri ir|molli|vfa|mese|mrf [--acceleration R] [--calibration-lines L] [--matrix N]
[--coils C] [--noise σ] -o raw.h5``: undersampled multi-coil multi-contrast raw data of the tissue phantom
(:func:`recon_engine.simulate.qmri_raw.write_qmri_raw`), read back by ``mrrecon fit raw.h5
--model ir --method model-based``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser"]


def _cmd_simulate_qmri(args: argparse.Namespace) -> int:
    """``--qmri KIND``: simulated multi-contrast raw data of the tissue phantom (ISMRMRD)."""
    from recon_engine.simulate.qmri_raw import write_qmri_raw

    noise = 0.002 if args.noise is None else args.noise
    if args.qmri == "mrf":
        path, raw = write_qmri_raw(
            "mrf", args.output, overwrite=args.overwrite, n=args.matrix or 64, n_frames=args.frames,
            n_coils=args.coils, trajectory=args.trajectory, noise_std=noise, seed=args.seed,
        )  # fmt: skip
        print(
            f"{path}: MRF FISP {tuple(raw.kspace.data.shape)}, {len(raw.times)} frames, "
            f"one {args.trajectory} readout each, TR {raw.options['tr']:g} ms, "
            f"TI {raw.options['inversion_time']:g} ms; "
            f"fit: mrrecon fit {path} --model mrf --method subspace -o maps.npz"
        )
        return 0
    path, raw = write_qmri_raw(
        args.qmri, args.output, overwrite=args.overwrite, n=args.matrix or 64, acceleration=args.acceleration,
        n_coils=args.coils, noise_std=noise, seed=args.seed, calibration_lines=args.calibration_lines,
    )  # fmt: skip
    label = "flip angles" if raw.model == "vfa" else ("TE" if raw.model == "mese" else "TI")
    unit = "deg" if raw.model == "vfa" else "ms"
    print(
        f"{path}: {raw.kind} {tuple(raw.kspace.data.shape)}, {len(raw.times)} {label} "
        f"{', '.join(f'{v:g}' for v in raw.times)} {unit}, R = {raw.acceleration:g} "
        f"(effective {raw.effective_acceleration:.2f}); fit: mrrecon fit {path} --model {raw.model} "
        "--method model-based -o maps.npz"
    )
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from recon_engine.errors import ParameterError
    from recon_engine.io.ismrmrd_write import write_ismrmrd
    from recon_engine.progress import ProgressEvent
    from recon_engine.simulate.seq_sim import simulate_seq

    if args.qmri is not None:
        if args.seq is not None:
            raise ParameterError(f"give a .seq file or --qmri, not both ({args.seq}, --qmri {args.qmri})")
        return _cmd_simulate_qmri(args)
    if args.seq is None:
        raise ParameterError("give a Pulseq .seq file to simulate, or --qmri ir|molli|vfa|mese|mrf")

    def show(event: ProgressEvent) -> None:
        if not args.quiet:
            print(f"\rsimulate {100 * event.fraction:5.1f} %", end="", file=sys.stderr, flush=True)

    matrix = None if args.matrix is None else (args.matrix, args.matrix)
    ks = simulate_seq(
        args.seq,
        args.phantom,
        progress=show,
        coils=args.coils,
        noise=0.0 if args.noise is None else args.noise,
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
    p.add_argument("seq", nargs="?", help="Pulseq .seq file (versions 1.2-1.5); not with --qmri")
    p.add_argument("--phantom", default="brain", help="brain | shepp-logan | maps .npz/.npy/NIfTI")
    p.add_argument("--matrix", type=int, help="phantom grid N x N (default: the sequence's matrix)")
    p.add_argument("--coils", type=int, default=8, help="receive coils (ring array)")
    p.add_argument(
        "--noise", type=float, default=None,
        help="noise standard deviation per k-space sample (default 0; with --qmri 0.002)",
    )  # fmt: skip
    p.add_argument("--b0", default=None, help="B0 map in Hz (.npy/.npz/NIfTI) or 'none'")
    p.add_argument("--isochromats", type=int, default=4, help="isochromats per voxel")
    p.add_argument("--spoiling", choices=("sequence", "ideal"), default="sequence")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("-o", "--output", required=True, help="output ISMRMRD file (.h5)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.add_argument(
        "--qmri", choices=("ir", "molli", "vfa", "mese", "mrf"), default=None,
        help="instead of SEQ: undersampled multi-coil multi-contrast raw data of the tissue phantom "
        "(IR 8 TIs, MOLLI 5(3)3, VFA 6 angles, MESE 12 echoes, MRF FISP one readout per frame); "
        "--matrix default 64",
    )  # fmt: skip
    p.add_argument("--frames", type=int, default=300, help="with --qmri mrf: frames of the FISP train")
    p.add_argument(
        "--trajectory", choices=("radial", "spiral"), default="radial",
        help="with --qmri mrf: one golden-angle spoke or spiral interleave per frame",
    )  # fmt: skip
    p.add_argument(
        "--acceleration", type=int, default=4,
        help="with --qmri: every R-th phase-encoding line per contrast (shifted per contrast)",
    )  # fmt: skip
    p.add_argument(
        "--calibration-lines", type=int, default=12,
        help="with --qmri: fully sampled central lines in every contrast (ESPIRiT needs ~12 at 64²)",
    )  # fmt: skip
    p.set_defaults(func=_cmd_simulate)
