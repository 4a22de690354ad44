"""Fit recipes: a qMRI fit as YAML that ``mrrecon fit``, the qMRI dock and ``mrrecon batch`` replay.

``mrrecon fit INPUT --save-recipe`` and the qMRI dock's "Save recipe…" write one;
``mrrecon batch`` and the Batch dock apply it to other inputs
(:func:`recon_engine.batch.load_batch_recipe`). Without ``method`` (``method: null``) the
input is an **image series** (``.npy`` ``(n, [z,] y, x)``, NIfTI with contrast as 4th axis,
a DICOM directory, an ISMRMRD image file) fitted voxel by voxel as ``mrrecon fit SERIES``
does; with a mapping method of :data:`~recon_engine.qmri.model_based.MAPPING_METHODS`
(``two-step``, ``model-based``, ``subspace``, ``pnp`` …) it is multi-contrast raw k-space,
as ``mrrecon fit RAW --method``. One layout for both::

    mrrecon_fit_recipe: 1
    input: {file: ir.h5, sha256: ...}   # where it was made (null sha256: a DICOM folder)
    fit:
      model: ir                 # ir, sr, molli, t2, t2star, vfa, mese, mrf
      method: model-based       # null: image series
      times: null               # ms; null: from each input's header/metadata
      flip_angles: null         # degrees
      tr: null                  # ms
      mask_threshold: 0.05      # null: every voxel
      max_iterations: 30        # image series only (Levenberg–Marquardt); absent with a method
      device: cpu
      method_options: {iterations: 6}
      model_options: {}
    environment: {recon_engine: 0.1.0, torch: ..., numpy: ..., python: 3.11.7}
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recon_engine.errors import FileFormatError, ParameterError

__all__ = ["FIT_RECIPE_VERSION", "FitRecipe", "read_yaml"]

FIT_RECIPE_VERSION = 1


def _floats(values: Any, name: str) -> list[float] | None:
    """None, a list/array of numbers or ``"50,100"`` → a list of floats."""
    if values is None:
        return None
    if isinstance(values, str):
        values = [v for v in values.replace(";", ",").split(",") if v.strip()]
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"fit recipe: {name} must be a list of numbers, got {values!r}") from exc


def _plain(v: Any) -> Any:
    """numpy/torch values → plain Python (lists, floats) for YAML."""
    if hasattr(v, "tolist"):
        return v.tolist()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    return v


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """The YAML document of a recipe file.

    Raises
    ------
    FileFormatError
        Missing file or invalid YAML.
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise FileFormatError(f"{p}: no such recipe file")
    try:
        return yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{p}: not valid YAML ({' '.join(str(exc).split())})") from exc


@dataclass(frozen=True)
class FitRecipe:
    """A replayable qMRI fit (see the module docstring for the YAML layout).

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
        Levenberg–Marquardt iterations (image-series fits; not recorded with a method).
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

    @classmethod
    def create(
        cls,
        input_file: str | os.PathLike[str],
        *,
        model: str,
        method: str | None = None,
        times: Sequence[float] | str | None = None,
        flip_angles: Sequence[float] | str | None = None,
        tr: float | None = None,
        mask_threshold: float | None = 0.05,
        max_iterations: int = 30,
        device: str = "auto",
        method_options: Mapping[str, Any] | None = None,
        model_options: Mapping[str, Any] | None = None,
    ) -> FitRecipe:
        """The recipe of a fit of ``input_file``: its SHA-256 (None for a directory) and the versions.

        Parameters are those of :class:`FitRecipe`; times and flip angles may be arrays or
        ``"50,100"`` text, options numpy values (all stored as plain YAML values).

        Raises
        ------
        ParameterError
            Unknown model or method, non-numeric times.
        """
        from recon_engine.recipe import _versions, file_sha256

        return cls(
            model=model,
            method=method,
            times=_floats(times, "times"),
            flip_angles=_floats(flip_angles, "flip_angles"),
            tr=None if tr is None else float(tr),
            mask_threshold=None if mask_threshold is None else float(mask_threshold),
            max_iterations=int(max_iterations),
            device=str(device),
            method_options=_plain(dict(method_options or {})),
            model_options=_plain(dict(model_options or {})),
            input_file=str(input_file),
            input_sha256=None if Path(input_file).is_dir() else file_sha256(input_file),
            environment=_versions(),
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
            **({} if self.raw else {"max_iterations": self.max_iterations}),
            "device": self.device,
            "method_options": _plain(self.method_options),
            "model_options": _plain(self.model_options),
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
        """Write the YAML atomically.

        Raises
        ------
        ExportError
            The folder is missing or the file cannot be written.
        """
        import yaml

        from recon_engine.io._atomic import atomic_file

        with atomic_file(path) as tmp:
            Path(tmp).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FitRecipe:
        """Read a fit recipe YAML (:meth:`from_dict` of :func:`read_yaml`)."""
        return cls.from_dict(read_yaml(path), str(path))

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
