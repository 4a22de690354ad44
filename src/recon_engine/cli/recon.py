"""``mrrecon recon FILE -o OUT [...]`` and ``mrrecon run RECIPE -o OUT``: reconstruct and save.

The learned methods take their weights with ``--weights PATH`` (``mrrecon recon raw.h5 --method
pnp --weights denoiser.pt -o img.nii.gz``) and their options with ``--algorithm``,
``--sigma-start``, ``--sigma-end``, ``--schedule``, ``--penalty``, ``--cg-iterations`` (pnp) and
``--unrolls`` (modl). An option the chosen method does not take is an error (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser"]


def _progress_printer(enabled: bool) -> Any:
    def show(event: Any) -> None:
        if not enabled:
            return
        width = 30
        done = int(width * event.fraction)
        sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {event.stage:<24s}")
        sys.stderr.flush()

    return show


def _method_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword options for the chosen method from the command line (only those it takes)."""
    from recon_engine.errors import ParameterError
    from recon_engine.recipe import method_options

    known = method_options(args.method)
    given = {
        "combine": (args.combine, "--combine"),
        "prewhitening": (False if args.no_prewhitening else None, "--no-prewhitening"),
        "epi_correction": (args.epi_correction, "--epi-correction"),
        "coil_maps": (args.coil_maps, "--coil-maps"),
        "iterations": (args.iterations, "--iterations"),
        "regularization_weight": (args.lam, "--lambda"),
        "weights": (args.weights, "--weights"),
        "algorithm": (args.algorithm, "--algorithm"),
        "sigma_start": (args.sigma_start, "--sigma-start"),
        "sigma_end": (args.sigma_end, "--sigma-end"),
        "schedule": (args.schedule, "--schedule"),
        "penalty": (args.penalty, "--penalty"),
        "cg_iterations": (args.cg_iterations, "--cg-iterations"),
        "unrolls": (args.unrolls, "--unrolls"),
    }
    options: dict[str, Any] = {}
    for name, (value, flag) in given.items():
        if value is None:
            continue
        if name not in known:
            raise ParameterError(f"method {args.method!r} has no option {flag} (it takes {sorted(known)})")
        options[name] = value
    return options


def _preprocess_options(args: argparse.Namespace) -> dict[str, Any]:
    """Preprocessing options from the command line (``--partial-fourier``, ``--coil-compression``)."""
    options: dict[str, Any] = {}
    if args.partial_fourier is not None:
        options["partial_fourier"] = args.partial_fourier
    if args.coil_compression is not None:
        options["coil_compression"] = args.coil_compression
        options["compression_method"] = args.compression_method
    return options


def _run_and_save(steps: Any, output: Any, *, phase: bool, quiet: bool) -> list[Any]:
    from recon_engine.api import save
    from recon_engine.progress import run

    show = _progress_printer(sys.stderr.isatty() and not quiet)
    image = run(steps, show)
    if sys.stderr.isatty() and not quiet:
        sys.stderr.write("\n")
    written = save(image, output, phase=phase)
    if not quiet:
        for p in written:
            print(p)
    return list(written)


def _check_output_dir(output: str) -> None:
    from pathlib import Path

    from recon_engine.errors import ExportError

    out = Path(output)
    if out.suffix and not out.parent.exists():  # fail before the (possibly long) reconstruction
        raise ExportError(f"output directory {out.parent} does not exist")


def _cmd_recon(args: argparse.Namespace) -> int:
    from recon_engine.api import read, reconstruct_steps
    from recon_engine.recipe import Recipe

    _check_output_dir(args.output)
    options = _method_options(args)
    preprocess = _preprocess_options(args)
    recipe = None
    if args.save_recipe:
        _check_output_dir(args.save_recipe)
        recipe = Recipe.create(
            args.file,
            method=args.method,
            options=options,
            device=args.device,
            seq=args.seq,
            preprocess=preprocess,
        )
    kspace = read(args.file, seq=args.seq)
    steps = reconstruct_steps(kspace, method=args.method, device=args.device, **preprocess, **options)
    _run_and_save(steps, args.output, phase=args.phase, quiet=args.quiet)
    if recipe is not None:
        recipe.save(args.save_recipe)
        if not args.quiet:
            print(args.save_recipe)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from recon_engine.recipe import load_recipe, run_recipe_steps

    _check_output_dir(args.output)
    recipe = load_recipe(args.recipe)
    steps = run_recipe_steps(recipe, input_file=args.input)
    _run_and_save(steps, args.output, phase=args.phase, quiet=args.quiet)
    return 0


def add_parser(sub: Any) -> None:
    """Register this module's sub-commands on the ``mrrecon`` sub-command parser."""
    from recon_engine.calibration.coil_compression import COMPRESSION_METHODS
    from recon_engine.calibration.preprocess import PARTIAL_FOURIER_METHODS
    from recon_engine.reconstructions import COMBINE_METHODS, METHODS
    from recon_engine.reconstructions.auto import EPI_CORRECTIONS
    from recon_engine.reconstructions.pnp import PNP_ALGORITHMS, PNP_SCHEDULES

    pr = sub.add_parser("recon", help="reconstruct raw data and write the image")
    pr.add_argument("file", help="raw data: ISMRMRD (.h5/.mrd) or Siemens twix (.dat)")
    pr.add_argument("--seq", help="Pulseq .seq file that produced the data (trajectory, labels)")
    pr.add_argument(
        "-o",
        "--output",
        required=True,
        help="output: .npy (complex), .nii/.nii.gz, .h5 (ISMRMRD image) or a directory (DICOM)",
    )
    pr.add_argument("--method", default="direct", choices=sorted(METHODS))
    pr.add_argument("--combine", choices=COMBINE_METHODS, help="coil combination (default rss)")
    pr.add_argument("--coil-maps", choices=("espirit", "walsh", "inati"), help="SENSE/CS coil sensitivities")
    pr.add_argument("--iterations", type=int, help="iterations of an iterative method")
    pr.add_argument("--lambda", dest="lam", type=float, help="regularization weight of an iterative method")
    learned = pr.add_argument_group("learned methods (pnp, modl)")
    learned.add_argument(
        "--weights",
        metavar="PATH",
        help="pnp: denoiser weights, modl: MoDL weights (a .pt file from 'mrrecon train', read with "
        "torch weights_only); default: the built-in weights ('builtin'; pnp also takes 'identity')",
    )
    learned.add_argument("--algorithm", choices=PNP_ALGORITHMS, help="pnp: splitting (default admm)")
    learned.add_argument("--sigma-start", type=float, help="pnp: denoiser strength at the first iteration")
    learned.add_argument("--sigma-end", type=float, help="pnp: denoiser strength at the last iteration")
    learned.add_argument(
        "--schedule", choices=PNP_SCHEDULES, help="pnp: denoiser strengths geometric (start→end) or constant"
    )
    learned.add_argument("--penalty", type=float, help="pnp: penalty rho of the data steps (units of ‖AᴴA‖)")
    learned.add_argument("--cg-iterations", type=int, help="pnp: CG steps of each data step")
    learned.add_argument("--unrolls", type=int, help="modl: unrolled blocks (0: as trained)")
    pr.add_argument(
        "--partial-fourier",
        choices=PARTIAL_FOURIER_METHODS,
        help="fill an asymmetric (partial Fourier) k-space before any method (default zero-fill)",
    )
    pr.add_argument(
        "--coil-compression",
        type=int,
        metavar="N",
        help="compress the receive coils to N virtual coils before the reconstruction",
    )
    pr.add_argument(
        "--compression-method",
        choices=COMPRESSION_METHODS,
        default="svd",
        help="coil compression: svd (any data) or geometric (Cartesian; default svd)",
    )
    pr.add_argument("--save-recipe", metavar="YAML", help="also write the pipeline as a recipe (mrrecon run)")
    pr.add_argument("--device", default="auto", help="auto, cpu or cuda")
    pr.add_argument(
        "--epi-correction",
        choices=EPI_CORRECTIONS,
        help="N/2-ghost correction for EPI (reversed readouts): navigators, image-based, or none",
    )
    pr.add_argument("--phase", action="store_true", help="NIfTI: also write a phase image (radians)")
    pr.add_argument(
        "--no-prewhitening", action="store_true", help="do not decorrelate coils with the noise scan"
    )
    pr.add_argument("-q", "--quiet", action="store_true")
    pr.set_defaults(func=_cmd_recon)

    pu = sub.add_parser("run", help="replay a recipe (YAML) saved by --save-recipe or the GUI")
    pu.add_argument("recipe", help="recipe YAML")
    pu.add_argument("-i", "--input", help="raw data to use instead of the recipe's input file")
    pu.add_argument("-o", "--output", required=True, help="output (.npy, .nii/.nii.gz, .h5 or a directory)")
    pu.add_argument("--phase", action="store_true", help="NIfTI: also write a phase image (radians)")
    pu.add_argument("-q", "--quiet", action="store_true")
    pu.set_defaults(func=_cmd_run)
