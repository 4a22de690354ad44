"""``mrrecon fit``: voxel-wise quantitative maps from an image series.

``mrrecon fit INPUT --model ir|sr|molli|t2|t2star|vfa|mese|mrf [--times 50,100,200]
[--flip-angles 2,5,10] [--tr MS] [--mask-threshold X|none] [--b1 MAP] [-O NAME=VALUE ...]
[--max-iterations N] [--device auto|cpu|cuda] [--save-recipe FIT.yaml] -o OUT``

``mrrecon fit RAW.h5 --model ir --method two-step|model-based|subspace|pnp [-M NAME=VALUE ...]
[--save-recipe FIT.yaml] -o OUT``: maps straight from multi-contrast raw k-space (ISMRMRD/twix,
one contrast axis, 2D Cartesian; TIs/TEs/flip angles from the raw header unless given). ``-M``
passes method options (``solver=lbfgs``, ``iterations=12``, ``regularization=llr``, ``rank=4`` …).
``--save-recipe`` (series or raw) writes the :class:`~recon_engine.qmri.fit_recipe.FitRecipe`
(input and SHA-256, model, method, times given, all options) that ``mrrecon batch`` replays on
other inputs; a ``--b1`` map belongs to one subject and cannot be recorded.

INPUT: ``.npy`` ``(n, [z,] y, x)``, NIfTI (4th axis = contrast), a DICOM directory or an ISMRMRD
image/raw file (times from the metadata unless given). OUT: ``.npz`` (one array per map,
``times``) or a directory of NIfTI files (``t1.nii.gz`` …). Times in ms, flip angles in degrees.
For ``mrf`` the schedule is ``--flip-angles`` (one per frame) and ``--tr``; model options such as
``-O inversion_time=20`` or ``-O offset=true`` go through ``-O``. Bad input: one line, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recon_engine.qmri.fit_recipe import FitRecipe

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
    show = sys.stderr.isatty() and not args.quiet
    if args.method is not None:
        return _fit_raw(args, info, options, threshold, show)
    recipe = _recipe(args, info.name, {}, options, threshold)
    series = load_series(args.input, times=args.times, flip_angles=args.flip_angles, tr=args.tr)

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
    if recipe is not None:
        recipe.save(args.save_recipe)
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
        if recipe is not None:
            print(args.save_recipe)
    return 0


def _values(text: str | None) -> list[float] | None:
    from recon_engine.errors import ParameterError

    if text is None:
        return None
    try:
        return [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError as exc:
        raise ParameterError(f"expected comma-separated numbers, got {text!r}") from exc


def _fit_raw(
    args: argparse.Namespace, info: Any, options: dict[str, Any], threshold: float | None, show: bool
) -> int:
    """``mrrecon fit RAW --method ...``: maps from multi-contrast raw data, optional recipe."""
    import numpy as np

    from recon_engine.api import read
    from recon_engine.errors import ParameterError
    from recon_engine.progress import ProgressEvent, run
    from recon_engine.qmri import write_maps
    from recon_engine.qmri.model_based import MAPPING_METHODS, map_raw_steps

    if args.method not in MAPPING_METHODS:
        raise ParameterError(
            f"unknown mapping method {args.method!r}; choose one of {', '.join(MAPPING_METHODS)}"
        )
    method_options: dict[str, Any] = {}
    for text in args.method_option:
        name, value = parse_option(text)
        if isinstance(value, float) and value.is_integer() and name in _INTEGER_OPTIONS:
            value = int(value)
        method_options[name] = value
    recipe = _recipe(args, info.name, method_options, options, threshold)
    kspace = read(args.input)

    def progress(event: ProgressEvent) -> None:
        if show:
            sys.stderr.write(f"\r{event.stage}: {event.iteration}/{event.total}   ")
            sys.stderr.flush()

    steps = map_raw_steps(
        kspace, info.name, args.method, times=_values(args.times), flip_angles=_values(args.flip_angles),
        tr=args.tr, mask_threshold=threshold, device=args.device, **method_options, **options,
    )  # fmt: skip
    result = run(steps, progress)
    if show:
        sys.stderr.write("\n")
    written = write_maps(result, args.output)
    if recipe is not None:
        recipe.save(args.save_recipe)
    if not args.quiet:
        main = result.maps[info.main]
        inside = np.isfinite(main)
        median = float(np.median(main[inside])) if inside.any() else float("nan")
        unit = result.units.get(info.main, "")
        print(
            f"{info.name} ({args.method}): {int(result.mask.sum())} voxels, "
            f"median {info.main} {median:.4g} {unit}"
        )
        for p in written:
            print(p)
        if recipe is not None:
            print(args.save_recipe)
    return 0


#: Method options that are integers (``-M iterations=12``).
_INTEGER_OPTIONS = frozenset(
    {"iterations", "inner_iterations", "sense_iterations", "rank", "block_size", "max_iterations"}
)


def _recipe(
    args: argparse.Namespace,
    model: str,
    method_options: dict[str, Any],
    model_options: dict[str, Any],
    threshold: float | None,
) -> FitRecipe | None:
    """The :class:`~recon_engine.qmri.fit_recipe.FitRecipe` of this fit with ``--save-recipe``, else None."""
    from recon_engine.errors import ParameterError
    from recon_engine.qmri.fit_recipe import FitRecipe

    if not args.save_recipe:
        return None
    if args.b1 is not None:
        raise ParameterError(
            "--save-recipe cannot record a --b1 map (it belongs to one subject); fit without --b1 "
            "or pass the map to each fit"
        )
    return FitRecipe.create(
        args.input, model=model, method=args.method, times=args.times, flip_angles=args.flip_angles,
        tr=args.tr, mask_threshold=threshold, max_iterations=args.max_iterations, device=args.device,
        method_options=method_options, model_options=model_options,
    )  # fmt: skip


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
    pf.add_argument(
        "--method", default=None,
        help="raw-data input: two-step, model-based, subspace or pnp (INPUT: multi-contrast raw k-space)",
    )  # fmt: skip
    pf.add_argument(
        "-M", "--method-option", action="append", default=[], metavar="NAME=VALUE",
        help="mapping option, e.g. solver=lbfgs, iterations=12, regularization=llr, rank=4 (repeatable)",
    )  # fmt: skip
    pf.add_argument("--save-recipe", help="write the fit recipe (YAML) here, for mrrecon batch")
    pf.add_argument("--device", default="auto", help="auto, cpu or cuda")
    pf.add_argument("-o", "--output", required=True, help="maps.npz, or a directory for one NIfTI per map")
    pf.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    pf.set_defaults(func=_cmd_fit)
