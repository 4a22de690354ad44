"""The recipe of a raw-data fit: what ``mrrecon fit RAW --method … --save-recipe`` and the qMRI dock write.

A YAML document that names the input (path and SHA-256), the model, the mapping method with its
options, the model options, the sampling values if given, the mask threshold, the device and
the versions of the packages::

    mrrecon_fit_recipe: 1
    input: {file: ir.h5, sha256: ...}
    fit: {model: ir, method: model-based, times: null, flip_angles: null, tr: null,
          mask_threshold: 0.05, device: cpu, method_options: {iterations: 6}, model_options: {}}
    environment: {recon_engine: 0.1.0, torch: ..., numpy: ..., python: 3.11.7}
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["FIT_RECIPE_VERSION", "fit_recipe", "save_fit_recipe"]

FIT_RECIPE_VERSION = 1


def _plain(v: Any) -> Any:
    """numpy/torch values → plain Python (lists, floats) for YAML."""
    if hasattr(v, "tolist"):
        return v.tolist()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def fit_recipe(
    input_path: str | os.PathLike[str],
    *,
    model: str,
    method: str,
    times: Sequence[float] | None = None,
    flip_angles: Sequence[float] | None = None,
    tr: float | None = None,
    mask_threshold: float | None = 0.05,
    device: str = "auto",
    method_options: Mapping[str, Any] | None = None,
    model_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The recipe document of a raw-data fit (see the module docstring).

    Parameters
    ----------
    input_path
        The raw file (hashed with SHA-256).
    model, method
        A model of :data:`~recon_engine.qmri.MODEL_NAMES`; a method of
        :data:`~recon_engine.qmri.model_based.MAPPING_METHODS`.
    times, flip_angles, tr
        Sampling values (ms, degrees) and TR (ms) when given explicitly; None: the raw header.
    mask_threshold, device
        As passed to the mapping method.
    method_options, model_options
        The method's keyword options (``iterations``, ``solver`` …) and the model's
        (``signed``, ``t1`` …).

    Returns
    -------
    dict
        Plain values only (``yaml.safe_dump`` writes it).
    """
    import numpy
    import torch

    from recon_engine import __version__
    from recon_engine.recipe import file_sha256

    return {
        "mrrecon_fit_recipe": FIT_RECIPE_VERSION,
        "input": {"file": str(input_path), "sha256": file_sha256(input_path)},
        "fit": {
            "model": model,
            "method": method,
            "times": _plain(times),
            "flip_angles": _plain(flip_angles),
            "tr": tr,
            "mask_threshold": mask_threshold,
            "device": device,
            "method_options": {k: _plain(v) for k, v in (method_options or {}).items()},
            "model_options": {k: _plain(v) for k, v in (model_options or {}).items()},
        },
        "environment": {
            "recon_engine": __version__, "torch": str(torch.__version__), "numpy": str(numpy.__version__),
            "python": platform.python_version(),
        },
    }  # fmt: skip


def save_fit_recipe(recipe: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a :func:`fit_recipe` document as YAML (atomically).

    Raises
    ------
    ExportError
        The folder is missing or the file cannot be written.
    """
    import yaml

    from recon_engine.io import atomic_file

    out = Path(path)
    with atomic_file(out) as tmp, open(tmp, "w", encoding="utf-8") as f:
        yaml.safe_dump(dict(recipe), f, sort_keys=False)
    return out
