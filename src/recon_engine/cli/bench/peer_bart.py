"""BART (the ``bart`` executable, e.g. Debian's package) on the benchmark's problems.

Inputs are written once as ``.cfl``/``.hdr`` into a temporary directory (outside the timing);
each timed call is one ``bart`` process, as a BART user runs it (process start and file I/O
included). Commands:

- ``ecalib -m 1 -k 6 -r CAL -t 0.02 -c 0.95`` (the same ESPIRiT parameters as ours),
- ``pics -l2 -r 0 -i 20`` with the true maps (CG),
- ``pics -R T:3:0:λ -i 50`` (TV, ADMM) and ``pics -R W:3:0:λ -i 50`` (wavelet, FISTA),
- ``nufft -a`` (adjoint NUFFT) and ``pics -t traj -l2 -r 0 -i 20`` (radial CG-SENSE).

BART scales the data itself before ``pics`` (its ``λ`` is relative to that scaling), so its
weights (:data:`LAMBDA`) were chosen once on P1 for a low NRMSE.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from recon_engine.cli.bench import problems
from recon_engine.cli.bench.ours import reference_adjoint
from recon_engine.cli.bench.quality import map_similarity, nrmse_fitted, nrmse_magnitude
from recon_engine.cli.bench.records import Case
from recon_engine.io.cfl import read_cfl, write_cfl

__all__ = ["LAMBDA", "bart_cases", "bart_version"]

#: ``pics`` regularization weights (BART's own scaling).
LAMBDA: dict[str, float] = {"tv": 0.005, "wavelet": 0.005}


def bart_version(exe: str | None = None) -> str | None:
    """``bart version`` (e.g. ``"v0.8.00"``), or None when BART is not on the PATH."""
    exe = exe or shutil.which("bart")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "version"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or "?"


def bart_cases(quick: bool, only: Callable[[str], bool], workdir: Path | None = None) -> list[Case]:
    """BART's cases, or none when ``bart`` is not installed.

    Parameters
    ----------
    quick
        Small problem sizes.
    only
        Problem key → whether to run it.
    workdir
        Where the ``.cfl`` files go (default: a new temporary directory, left for the
        process's lifetime).
    """
    exe = shutil.which("bart")
    version = bart_version(exe)
    if exe is None or version is None:
        return []
    tool = f"bart {version.lstrip('v')}"
    d = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="mrrecon-bench-bart-"))

    def call(*args: str) -> Callable[[], np.ndarray]:
        out = str(d / f"out_{args[0]}_{abs(hash(args)) % 10**8}")

        def go() -> np.ndarray:
            subprocess.run([exe, *args, out], check=True, capture_output=True, timeout=600)
            return out  # type: ignore[return-value]

        return go

    def result(path: object) -> np.ndarray:
        return read_cfl(str(path))

    p = problems.cartesian_2d(quick)
    ksp = str(write_cfl(d / "ksp", p.data.T))  # (x, y, z, coils)
    maps = str(write_cfl(d / "maps", p.maps.T))
    truth = p.truth[0]
    cases: list[Case] = []

    def image_nrmse(path: object) -> float:
        return nrmse_magnitude(result(path).T, truth)

    if only("espirit"):
        mask = np.abs(truth) > 0
        cases.append(
            Case(
                "espirit",
                tool,
                call(
                    "ecalib",
                    "-m",
                    "1",
                    "-k",
                    "6",
                    "-r",
                    str(p.calibration_lines),
                    "-t",
                    "0.02",
                    "-c",
                    "0.95",
                    ksp,
                ),
                lambda path: map_similarity(
                    result(path).T.reshape(p.maps.shape[0], -1),
                    p.maps[:, 0].reshape(p.maps.shape[0], -1),
                    mask.ravel(),
                ),
                "map similarity",
            )
        )
    pics: tuple[tuple[str, tuple[str, ...], str], ...] = (
        ("cg_sense", ("-l2", "-r", "0", "-i", "20"), ""),
        ("tv", ("-R", f"T:3:0:{LAMBDA['tv']}", "-i", "50"), "ADMM"),
        ("wavelet", ("-R", f"W:3:0:{LAMBDA['wavelet']}", "-i", "50"), ""),
    )
    for key, options, note in pics:
        if only(key):
            cases.append(
                Case(key, tool, call("pics", "-d0", *options, ksp, maps), image_nrmse, "NRMSE", note=note)
            )
    r = problems.radial_2d(quick)
    spokes = r.kspace.data.shape[2]
    traj = r.points[:, ::-1].reshape(spokes, -1, 3)  # (spokes, samples, (x, y, z))
    traj_file = str(write_cfl(d / "traj", traj.T))  # (3, samples, spokes)
    rksp = str(
        write_cfl(d / "rksp", r.samples.reshape(-1, spokes, traj.shape[1], 1).T)
    )  # (1, samples, spokes, coils)
    rmaps = str(write_cfl(d / "rmaps", r.maps[:, None].T))  # (x, y, 1, coils)
    n = r.matrix
    if only("nufft_adjoint"):
        ref = reference_adjoint(r)
        cases.append(
            Case(
                "nufft_adjoint",
                tool,
                call("nufft", "-a", "-d", f"{n[1]}:{n[0]}:1", traj_file, rksp),
                lambda path: nrmse_fitted(result(path).T.reshape(ref.shape), ref),
                "rel. error",
                note="process start + file I/O",
            )
        )
    if only("radial_cg_sense"):
        cases.append(
            Case(
                "radial_cg_sense",
                tool,
                call("pics", "-d0", "-l2", "-r", "0", "-i", "20", "-t", traj_file, rksp, rmaps),
                lambda path: nrmse_magnitude(result(path).T, r.truth),
                "NRMSE",
                note="no density weights",
            )
        )
    return cases
