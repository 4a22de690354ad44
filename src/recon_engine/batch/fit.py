"""Fit recipes: a qMRI voxel fit as a batch recipe (image series in, parameter maps out).

A fit recipe is the YAML that ``mrrecon fit RAW --method ... --save-recipe`` writes
(``mrrecon_fit_recipe: 1``), with the method optional: without ``method`` (or
``method: null``) every input is an **image series** (``.npy`` ``(n, [z,] y, x)``, NIfTI with
contrast as 4th axis, a DICOM directory, an ISMRMRD image file) fitted voxel by voxel as
``mrrecon fit SERIES`` does; with a mapping method (``two-step``, ``model-based``,
``subspace``, ``pnp``) every input is multi-contrast raw k-space, as ``mrrecon fit RAW
--method``. Example::

    mrrecon_fit_recipe: 1
    input: {file: first_series.nii.gz, sha256: ...}
    fit:
      model: ir
      method: null
      times: [50, 100, 200, 400, 800, 1600, 3200]
      flip_angles: null
      tr: null
      mask_threshold: 0.05
      max_iterations: 30
      device: cpu
      method_options: {}
      model_options: {}

The maps of one input are written by :func:`recon_engine.qmri.write_maps`: one ``.npz``
(format ``npz``) or a directory of NIfTI maps (format ``nii.gz``: ``<stem>_maps/t1.nii.gz``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from recon_engine.errors import FileFormatError, ParameterError
from recon_engine.progress import Steps

__all__ = ["FIT_OUTPUT_FORMATS", "FIT_RECIPE_VERSION", "FitRecipe", "load_batch_recipe", "run_fit_steps"]

FIT_RECIPE_VERSION = 1

#: Output formats of a fit batch: one ``.npz`` per input, or a directory of NIfTI maps.
FIT_OUTPUT_FORMATS: tuple[str, ...] = ("npz", "nii.gz")


def _floats(values: Any, name: str) -> list[float] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [v for v in values.replace(";", ",").split(",") if v.strip()]
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"fit recipe: {name} must be a list of numbers, got {values!r}") from exc


def _plain(v: Any) -> Any:
    return v.tolist() if hasattr(v, "tolist") else v


@dataclass(frozen=True)
class FitRecipe:
    """A replayable qMRI fit (see the module docstring).

    Attributes
    ----------
    model
        Signal model name (``ir``, ``sr``, ``molli``, ``t2``, ``t2star``, ``vfa``, ``mese``, ``mrf``).
    method
        None: image-series fit; else a raw-data mapping method of
        :data:`recon_engine.qmri.model_based.MAPPING_METHODS`.
    times
        TI/TE/saturation times in ms (None: from each input's metadata).
    flip_angles
        Flip angles in degrees (VFA, MRF schedule), or None.
    tr
        Repetition time in ms, or None.
    mask_threshold
        Fraction of the peak a voxel must reach to be fitted; None fits every voxel.
    max_iterations
        Levenberg–Marquardt iterations (image-series fits).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    method_options, model_options
        Keyword options of the mapping method and of the model (plain YAML values).
    input_file, input_sha256
        The input the recipe was made from (a batch applies it to other files).
    environment
        Package versions that made it.
    """

    model: str
    method: str | None = None
    times: list[float] | None = None
    flip_angles: list[float] | None = None
    tr: float | None = None
    mask_threshold: float | None = 0.05
    max_iterations: int = 30
    device: str = "auto"
    method_options: dict[str, Any] = field(default_factory=dict)
    model_options: dict[str, Any] = field(default_factory=dict)
    input_file: str = ""
    input_sha256: str | None = None
    environment: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from recon_engine.qmri import model_info

        model_info(self.model)  # ParameterError for an unknown model
        if self.method is not None:
            from recon_engine.qmri.model_based import MAPPING_METHODS

            if self.method not in MAPPING_METHODS:
                raise ParameterError(
                    f"unknown mapping method {self.method!r}; choose one of {', '.join(MAPPING_METHODS)}"
                    " (or none for an image-series fit)"
                )

    @property
    def raw(self) -> bool:
        """True when the inputs are raw k-space (a mapping method), False for image series."""
        return self.method is not None

    def fit_section(self) -> dict[str, Any]:
        """The ``fit:`` section (what decides the maps; no input, no versions)."""
        return {
            "model": self.model,
            "method": self.method,
            "times": self.times,
            "flip_angles": self.flip_angles,
            "tr": self.tr,
            "mask_threshold": self.mask_threshold,
            "max_iterations": self.max_iterations,
            "device": self.device,
            "method_options": {k: _plain(v) for k, v in self.method_options.items()},
            "model_options": {k: _plain(v) for k, v in self.model_options.items()},
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain dict in the YAML layout."""
        return {
            "mrrecon_fit_recipe": FIT_RECIPE_VERSION,
            "input": {"file": self.input_file, "sha256": self.input_sha256},
            "fit": self.fit_section(),
            "environment": dict(self.environment),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the YAML atomically."""
        from recon_engine.io._atomic import atomic_file

        with atomic_file(path) as tmp:
            Path(tmp).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return Path(path)

    @classmethod
    def from_dict(cls, d: Any, where: str = "fit recipe") -> FitRecipe:
        """A fit recipe from its YAML dict.

        Raises
        ------
        FileFormatError
            Unknown version or no ``fit`` section with a ``model``.
        ParameterError
            Unknown model or method, non-numeric times.
        """
        if not isinstance(d, dict) or d.get("mrrecon_fit_recipe") != FIT_RECIPE_VERSION:
            version = d.get("mrrecon_fit_recipe") if isinstance(d, dict) else None
            raise FileFormatError(
                f"{where}: fit recipe version {version!r} is not supported (this engine reads 1)"
            )
        fit = d.get("fit")
        if not isinstance(fit, dict) or not isinstance(fit.get("model"), str):
            raise FileFormatError(f"{where}: fit recipe lacks 'fit' with a 'model'")
        given = d.get("input")
        inp: dict[str, Any] = given if isinstance(given, dict) else {}
        threshold = fit.get("mask_threshold", 0.05)
        tr = fit.get("tr")
        try:
            return cls(
                model=fit["model"],
                method=fit.get("method") or None,
                times=_floats(fit.get("times"), "times"),
                flip_angles=_floats(fit.get("flip_angles"), "flip_angles"),
                tr=None if tr is None else float(tr),
                mask_threshold=None if threshold is None else float(threshold),
                max_iterations=int(fit.get("max_iterations", 30)),
                device=str(fit.get("device", "auto")),
                method_options=dict(fit.get("method_options") or {}),
                model_options=dict(fit.get("model_options") or {}),
                input_file=str(inp.get("file") or ""),
                input_sha256=inp.get("sha256"),
                environment={str(k): str(v) for k, v in (d.get("environment") or {}).items()},
            )
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"{where}: {' '.join(str(exc).split())}") from exc


def load_batch_recipe(path: str | os.PathLike[str]) -> Any:
    """Read a recipe YAML of either kind: a :class:`~recon_engine.recipe.Recipe` or a :class:`FitRecipe`.

    Raises
    ------
    FileFormatError
        Missing file, invalid YAML, neither kind of recipe.
    ParameterError
        Unknown method, model or options.
    """
    from recon_engine.recipe import load_recipe

    p = Path(path)
    if not p.is_file():
        raise FileFormatError(f"{p}: no such recipe file")
    try:
        d = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{p}: not valid YAML ({' '.join(str(exc).split())})") from exc
    if isinstance(d, dict) and "mrrecon_fit_recipe" in d:
        return FitRecipe.from_dict(d, str(p))
    return load_recipe(p)


def run_fit_steps(recipe: FitRecipe, input_file: str | os.PathLike[str]) -> Steps[tuple[Any, Any]]:
    """Fit one input with a fit recipe (generator); returns ``(FitResult, affine or None)``.

    Image series are read with :func:`recon_engine.qmri.load_series` and fitted with
    :func:`recon_engine.qmri.fit_steps`; raw inputs are read with :func:`recon_engine.read`
    and mapped with :func:`recon_engine.qmri.model_based.map_raw_steps`, exactly as
    ``mrrecon fit`` does.
    """
    path = str(input_file)
    if recipe.raw:
        from recon_engine.api import read
        from recon_engine.qmri.model_based import map_raw_steps

        assert recipe.method is not None
        kspace = read(path)
        result = yield from map_raw_steps(
            kspace, recipe.model, recipe.method, times=recipe.times, flip_angles=recipe.flip_angles,
            tr=recipe.tr, mask_threshold=recipe.mask_threshold, device=recipe.device,
            **recipe.method_options, **recipe.model_options,
        )  # fmt: skip
        return result, None
    from recon_engine.qmri import fit_steps, load_series

    series = load_series(path, times=recipe.times, flip_angles=recipe.flip_angles, tr=recipe.tr)
    result = yield from fit_steps(
        series,
        recipe.model,
        mask_threshold=recipe.mask_threshold,
        max_iterations=recipe.max_iterations,
        device=recipe.device,
        **recipe.model_options,
    )
    return result, series.affine
