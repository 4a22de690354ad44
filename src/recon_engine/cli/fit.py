"""``mrrecon fit``: voxel-wise quantitative maps from an image series.

``mrrecon fit INPUT --model ir|sr|molli|t2|t2star|vfa|mese|mrf [--times 50,100,200]
[--flip-angles 2,5,10] [--tr MS] [--mask-threshold X|none] [--b1 MAP] [-O NAME=VALUE ...]
[--max-iterations N] [--device auto|cpu|cuda] -o OUT``

INPUT: ``.npy`` ``(n, [z,] y, x)``, NIfTI (4th axis = contrast), a DICOM directory or an ISMRMRD
image/raw file (times from the metadata unless given). OUT: ``.npz`` (one array per map,
``times``) or a directory of NIfTI files (``t1.nii.gz`` …). Times in ms, flip angles in degrees.
For ``mrf`` the schedule is ``--flip-angles`` (one per frame) and ``--tr``; model options such as
``-O inversion_time=20`` or ``-O offset=true`` go through ``-O``. Bad input: one line, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser", "parse_option"]


def parse_option(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` → (name, value): ``true``/``false``/``none``, numbers, comma lists of numbers."""
    from recon_engine.errors import ParameterError

    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise ParameterError(f"model options are NAME=VALUE, got {text!r}")
    value = raw.strip()
    low = value.lower()
    if low in ("true", "yes", "on"):
        return name.strip(), True
    if low in ("false", "no", "off"):
        return name.strip(), False
    if low in ("none", ""):
        return name.strip(), None
    try:
        if "," in value:
            return name.strip(), [float(v) for v in value.split(",") if v.strip()]
        return name.strip(), float(value)
    except ValueError:
        return name.strip(), value


def _load_map(path: str) -> Any:
    import numpy as np

    from recon_engine.errors import FileFormatError

    if path.lower().endswith(".npy"):
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise FileFormatError(f"{path} is not a readable .npy map ({exc})") from exc
    from recon_engine.io.nifti import read_nifti

    data, _ = read_nifti(path)  # (x, y, z) -> (z, y, x), z dropped when 1
    vol = np.transpose(data, (2, 1, 0)) if data.ndim == 3 else data.T
    return vol[0] if vol.ndim == 3 and vol.shape[0] == 1 else vol


def _cmd_fit(args: argparse.Namespace) -> int:
    import numpy as np

    from recon_engine.errors import ParameterError
    from recon_engine.progress import ProgressEvent, run
    from recon_engine.qmri import fit_steps, load_series, model_info, write_maps

    info = model_info(args.model)
    options: dict[str, Any] = dict(parse_option(o) for o in args.option)
    if args.b1 is not None:
        options["b1"] = _load_map(args.b1)
    threshold: float | None
    if str(args.mask_threshold).lower() == "none":
        threshold = None
    else:
        try:
            threshold = float(args.mask_threshold)
        except ValueError as exc:
            raise ParameterError(
                f"--mask-threshold must be a number or 'none', got {args.mask_threshold!r}"
            ) from exc
    series = load_series(args.input, times=args.times, flip_angles=args.flip_angles, tr=args.tr)
    show = sys.stderr.isatty() and not args.quiet

    def progress(event: ProgressEvent) -> None:
        if show:
            sys.stderr.write(f"\r{event.stage}: {event.iteration}/{event.total}   ")
            sys.stderr.flush()

    steps = fit_steps(
        series,
        info.name,
        mask_threshold=threshold,
        max_iterations=args.max_iterations,
        device=args.device,
        **options,
    )
    result = run(steps, progress)
    if show:
        sys.stderr.write("\n")
    written = write_maps(result, args.output, affine=series.affine)
    if not args.quiet:
        main = result.maps[info.main]
        inside = np.isfinite(main)
        unit = result.units.get(info.main, "")
        median = float(np.median(main[inside])) if inside.any() else float("nan")
        print(
            f"{info.name}: {int(result.mask.sum())} voxels, median {info.main} {median:.4g} {unit}".rstrip()
        )
        for p in written:
            print(p)
    return 0


def add_parser(subparsers: Any) -> None:
    """Register ``mrrecon fit`` on the ``mrrecon`` sub-command parser."""
    pf = subparsers.add_parser("fit", help="fit quantitative maps (T1, T2, T2*, M0 ...) to an image series")
    pf.add_argument(
        "input", help=".npy (n,[z,]y,x), NIfTI (4th axis = contrast), DICOM directory or ISMRMRD file"
    )
    pf.add_argument("--model", required=True, help="ir, sr, molli, t2, t2star, vfa, mese or mrf")
    pf.add_argument("--times", help="TI/TE/saturation times in ms, comma-separated (one per image)")
    pf.add_argument("--flip-angles", help="flip angles in degrees, comma-separated (VFA; MRF schedule)")
    pf.add_argument("--tr", type=float, help="repetition time in ms (VFA, MRF)")
    pf.add_argument(
        "--mask-threshold",
        default="0.05",
        help="fit voxels whose peak reaches this fraction of the image's peak (default 0.05; 'none': all)",
    )
    pf.add_argument("--b1", help="relative B1 map (.npy (y,x)/(z,y,x) or NIfTI) for VFA")
    pf.add_argument(
        "-O", "--option", action="append", default=[], metavar="NAME=VALUE",
        help="model option, e.g. offset=true, signed=false, t1=1200, inversion_time=20 (repeatable)",
    )  # fmt: skip
    pf.add_argument("--max-iterations", type=int, default=30, help="Levenberg-Marquardt iterations")
    pf.add_argument("--device", default="auto", help="auto, cpu or cuda")
    pf.add_argument("-o", "--output", required=True, help="maps.npz, or a directory for one NIfTI per map")
    pf.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    pf.set_defaults(func=_cmd_fit)
