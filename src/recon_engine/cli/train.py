"""``mrrecon train denoiser|modl [--data DIR_OR_GLOB] [--epochs N] [--device D] -o weights.pt``.

Trains the learned models of ``"pnp"`` (denoiser) and ``"modl"`` with
:func:`recon_engine.learned.train_denoiser_steps` / :func:`~recon_engine.learned.train_modl_steps`
on the user's images (``--data``: a directory or glob of ``.npy``, NIfTI, DICOM folders, ISMRMRD
image files) or, by default, on the engine's textured phantoms and the scikit-image images.
A progress bar shows the loss; after every epoch one line gives the validation NRMSE/SSIM and the
weights are written to ``-o`` (a checkpoint: ``--resume`` continues from it).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Add the ``train`` sub-command."""
    p = sub.add_parser("train", help="train the denoiser of pnp or the MoDL network", description=__doc__)
    p.add_argument("model", choices=["denoiser", "modl"], help="which network (the denoiser of pnp, or MoDL)")
    p.add_argument("-o", "--output", required=True, help="weights file to write (.pt), updated every epoch")
    p.add_argument("--data", default=None, help="training images: a directory or a glob (default: phantoms)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--steps", type=int, default=None, help="optimiser steps per epoch")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--size", type=int, default=64, help="training patch size in pixels")
    p.add_argument("--features", type=int, default=None, help="CNN channels")
    p.add_argument("--depth", type=int, default=None, help="CNN layers")
    p.add_argument("--learning-rate", type=float, default=None, help="Adam's initial rate (cosine decay)")
    p.add_argument("--device", default="cpu", help="cpu (deterministic), cuda or auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", default=None, help="checkpoint to continue from")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from recon_engine.learned import train_steps

    opts: dict[str, Any] = {
        "data": args.data,
        "epochs": args.epochs,
        "size": args.size,
        "device": args.device,
        "seed": args.seed,
        "output": args.output,
        "resume": args.resume,
    }
    for key in ("steps", "batch_size", "features", "depth", "learning_rate"):
        value = getattr(args, key)
        if value is not None:
            opts["steps_per_epoch" if key == "steps" else key] = value
    gen = train_steps(args.model, **opts)
    try:
        result = _follow(gen, args.quiet)
    except KeyboardInterrupt:
        gen.close()  # the training loop writes the weights trained so far (no-op if it already did)
        sys.stderr.write(
            f"\nmrrecon: stopped; the weights trained so far are in {args.output} "
            f"(continue with --resume {args.output})\n"
        )
        return 130
    print(f"wrote {result.output}")
    return 0


def _follow(gen: Any, quiet: bool) -> Any:
    """Run the training generator, printing a progress bar and one line per epoch; its result."""
    width = 30
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        if event.stage.startswith("validation"):
            m = event.metrics
            line = (
                f"epoch {int(m['epoch'])}: loss {m['loss']:.5f}, validation NRMSE {m['val_nrmse']:.4f}, "
                f"SSIM {m['val_ssim']:.4f}, {m['samples_per_s']:.1f} samples/s"
            )
            sys.stderr.write(("\r" if not quiet else "") + line + " " * 10 + "\n")
        elif not quiet:
            done = int(width * event.fraction)
            loss = event.metrics.get("loss", float("nan"))
            sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {event.stage:<28s} loss {loss:.5f}")
        sys.stderr.flush()
