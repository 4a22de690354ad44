"""The ``mrrecon`` command.

``mrrecon info FILE [--seq SEQ] [--json]``, ``mrrecon recon FILE [--seq SEQ] -o OUT [...]``,
``mrrecon convert FILE [--seq SEQ] -o OUT.h5`` and
``mrrecon gui [FILE...] [--screenshot PNG] [--quit] [--explorer-settings JSON]``. Bad input prints one line on
stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from recon_engine.errors import ReconError

__all__ = ["main"]


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
    from recon_engine.pipeline import method_options

    known = method_options(args.method)
    given = {
        "combine": (args.combine, "--combine"),
        "prewhitening": (False if args.no_prewhitening else None, "--no-prewhitening"),
        "epi_correction": (args.epi_correction, "--epi-correction"),
        "coil_maps": (args.coil_maps, "--coil-maps"),
        "iterations": (args.iterations, "--iterations"),
        "regularization_weight": (args.lam, "--lambda"),
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
    from recon_engine.pipeline import Recipe

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
    from recon_engine.pipeline import load_recipe, run_recipe_steps

    _check_output_dir(args.output)
    recipe = load_recipe(args.recipe)
    steps = run_recipe_steps(recipe, input_file=args.input)
    _run_and_save(steps, args.output, phase=args.phase, quiet=args.quiet)
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from recon_engine.io.convert import convert

    written = convert(args.file, args.output, seq=args.seq, overwrite=args.overwrite)
    print(written)
    return 0


def _cmd_gui(args: argparse.Namespace) -> int:
    import importlib

    try:  # the plugin is a separate import package; the engine itself never imports napari
        launch = importlib.import_module("napari_mrrecon.launch").launch
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


def _parser() -> argparse.ArgumentParser:
    from recon_engine.calibration.coil_compression import COMPRESSION_METHODS
    from recon_engine.calibration.preprocess import PARTIAL_FOURIER_METHODS
    from recon_engine.reconstructions import COMBINE_METHODS, METHODS
    from recon_engine.reconstructions.auto import EPI_CORRECTIONS

    p = argparse.ArgumentParser(prog="mrrecon", description="MR image reconstruction (napari-mrrecon engine)")
    sub = p.add_subparsers(dest="command", required=True)

    pi = sub.add_parser("info", help="show what a raw data file holds (header and acquisitions)")
    pi.add_argument("file", help="raw data: ISMRMRD (.h5/.mrd) or Siemens twix (.dat)")
    pi.add_argument("--seq", help="Pulseq .seq file that produced the data")
    pi.add_argument("--json", action="store_true", help="print JSON")
    pi.set_defaults(func=_cmd_info)

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

    pc = sub.add_parser("convert", help="write raw data (twix, optionally with its .seq) as ISMRMRD")
    pc.add_argument("file", help="raw data: Siemens twix (.dat) or ISMRMRD")
    pc.add_argument("--seq", help="Pulseq .seq file: its trajectory and labels are written too")
    pc.add_argument("-o", "--output", required=True, help="ISMRMRD output file (.h5/.mrd)")
    pc.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    pc.set_defaults(func=_cmd_convert)

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
    from recon_engine.cli_bench import add_parser as _add_bench_parser  # mrrecon bench

    _add_bench_parser(sub)
    from recon_engine.cli_fit import add_parser as _add_fit_parser  # mrrecon fit

    _add_fit_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mrrecon``; returns the exit status (2 for bad input)."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ReconError as exc:
        msg = " ".join(str(exc).split())
        print(f"mrrecon: error: {msg}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"mrrecon: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
