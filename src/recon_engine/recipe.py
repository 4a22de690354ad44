"""Recipes: a reconstruction pipeline as YAML that the GUI, the CLI and scripts replay.

A recipe records the input (path, optional Pulseq ``.seq``, SHA-256 of both), the read
options, the preprocessing (partial Fourier, coil compression:
:mod:`recon_engine.calibration.preprocess`; only what differs from doing nothing), the
method with all its parameters, the device, and the versions of the packages that made it.
:func:`run_recipe_steps` replays it; on the same machine and device (CPU) the image is
bit-for-bit identical.

Example recipe::

    mrrecon_recipe: 1
    input: {file: scan.dat, seq: scan.seq, sha256: ..., seq_sha256: ...}
    read: {trajectory_units: auto}
    reconstruct:
      method: sense
      device: cpu
      preprocess: {partial_fourier: pocs, coil_compression: 8, compression_method: svd}
      options: {coil_maps: espirit, iterations: 20}
    environment: {recon_engine: 0.1.0, torch: 2.13.0+cpu, numpy: 2.4.6, python: 3.11.7}
"""

from __future__ import annotations

import hashlib
import inspect
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from recon_engine.calibration.preprocess import PREPROCESS_DEFAULTS, check_preprocessing, split_preprocessing
from recon_engine.data.image import ImageData
from recon_engine.errors import DataError, FileFormatError, ParameterError
from recon_engine.progress import Steps

__all__ = ["RECIPE_VERSION", "Recipe", "file_sha256", "load_recipe", "method_options", "run_recipe_steps"]

RECIPE_VERSION = 1


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def method_options(method: str) -> dict[str, inspect.Parameter]:
    """The keyword parameters a reconstruction method accepts (without ``kspace``/``device``).

    Raises
    ------
    ParameterError
        Unknown method.
    """
    from recon_engine.reconstructions import METHODS

    try:
        fn = METHODS[method]
    except KeyError:
        raise ParameterError(
            f"unknown reconstruction method {method!r}; choose one of {sorted(METHODS)}"
        ) from None
    params = inspect.signature(fn).parameters
    return {k: p for k, p in params.items() if k not in ("kspace", "device") and p.kind == p.KEYWORD_ONLY}


def _versions() -> dict[str, str]:
    import numpy
    import torch

    from recon_engine import __version__

    return {
        "recon_engine": __version__,
        "torch": str(torch.__version__),
        "numpy": str(numpy.__version__),
        "python": platform.python_version(),
    }


@dataclass
class Recipe:
    """A replayable reconstruction.

    Attributes
    ----------
    input_file
        Raw data path (as given when the recipe was made).
    method
        Name in :data:`recon_engine.reconstructions.METHODS`.
    options
        Method keyword arguments (plain YAML values).
    preprocess
        Preprocessing options of :func:`recon_engine.reconstruct_steps` that differ from
        their defaults (``partial_fourier``, ``coil_compression``, ``compression_method``).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    seq
        Pulseq ``.seq`` path or None.
    read_options
        Keyword arguments of :func:`recon_engine.read` (e.g. ``trajectory_units``).
    input_sha256, seq_sha256
        Hashes of the inputs when the recipe was made (None: not recorded).
    environment
        Package versions that made it.
    """

    input_file: str
    method: str = "direct"
    options: dict[str, Any] = field(default_factory=dict)
    preprocess: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    seq: str | None = None
    read_options: dict[str, Any] = field(default_factory=dict)
    input_sha256: str | None = None
    seq_sha256: str | None = None
    environment: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        input_file: str | os.PathLike[str],
        *,
        method: str = "direct",
        options: dict[str, Any] | None = None,
        device: str = "auto",
        seq: str | os.PathLike[str] | None = None,
        read_options: dict[str, Any] | None = None,
        preprocess: dict[str, Any] | None = None,
    ) -> Recipe:
        """A recipe for a run, hashing the inputs and recording versions; options are validated.

        Preprocessing options may come in ``preprocess`` or mixed into ``options`` (as the
        GUI gathers them); they are recorded apart, and only when not the default.
        """
        pre, opts = split_preprocessing({**dict(options or {}), **dict(preprocess or {})})
        check_preprocessing(**pre)
        known = method_options(method)
        unknown = sorted(set(opts) - set(known))
        if unknown:
            raise ParameterError(f"method {method!r} has no option(s) {unknown}; it takes {sorted(known)}")
        return cls(
            input_file=str(input_file),
            method=method,
            options=opts,
            preprocess=pre,
            device=str(device),
            seq=None if seq is None else str(seq),
            read_options=dict(read_options or {}),
            input_sha256=file_sha256(input_file),
            seq_sha256=None if seq is None else file_sha256(seq),
            environment=_versions(),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict in the YAML layout."""
        inp: dict[str, Any] = {"file": self.input_file, "sha256": self.input_sha256}
        if self.seq is not None:
            inp.update(seq=self.seq, seq_sha256=self.seq_sha256)
        return {
            "mrrecon_recipe": RECIPE_VERSION,
            "input": inp,
            "read": dict(self.read_options),
            "reconstruct": {
                "method": self.method,
                "device": self.device,
                **({"preprocess": dict(self.preprocess)} if self.preprocess else {}),
                "options": dict(self.options),
            },
            "environment": dict(self.environment),
        }

    def to_yaml(self) -> str:
        """The recipe as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the YAML atomically."""
        from recon_engine.io._atomic import atomic_file

        with atomic_file(path) as tmp:
            Path(tmp).write_text(self.to_yaml())
        return Path(path)

    def to_python(self) -> str:
        """The equivalent engine calls as a Python snippet ("Copy as Python")."""
        read_args = [repr(self.input_file)]
        if self.seq is not None:
            read_args.append(f"seq={self.seq!r}")
        read_args += [f"{k}={v!r}" for k, v in self.read_options.items()]
        opts = "".join(f", {k}={v!r}" for k, v in {**self.preprocess, **self.options}.items())
        return (
            "import recon_engine as mr\n\n"
            f"kspace = mr.read({', '.join(read_args)})\n"
            f"image = mr.reconstruct(kspace, method={self.method!r}, device={self.device!r}{opts})\n"
        )


def _expect(d: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(d, dict) or key not in d or not isinstance(d[key], kind):
        raise FileFormatError(f"{where}: recipe lacks {key!r} ({kind.__name__})")
    return d[key]


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read a recipe YAML.

    Raises
    ------
    FileFormatError
        Missing file, invalid YAML, unknown recipe version or missing sections.
    ParameterError
        Unknown method or options.
    """
    p = Path(path)
    if not p.is_file():
        raise FileFormatError(f"{p}: no such recipe file")
    try:
        d = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{p}: not valid YAML ({' '.join(str(exc).split())})") from exc
    version = _expect(d, "mrrecon_recipe", int, str(p))
    if version != RECIPE_VERSION:
        raise FileFormatError(
            f"{p}: recipe version {version} is not supported (this engine reads {RECIPE_VERSION})"
        )
    inp = _expect(d, "input", dict, str(p))
    rec = _expect(d, "reconstruct", dict, str(p))
    recipe = Recipe(
        input_file=str(_expect(inp, "file", str, str(p))),
        method=str(_expect(rec, "method", str, str(p))),
        options=dict(rec.get("options") or {}),
        preprocess=dict(rec.get("preprocess") or {}),
        device=str(rec.get("device", "auto")),
        seq=inp.get("seq"),
        read_options=dict(d.get("read") or {}),
        input_sha256=inp.get("sha256"),
        seq_sha256=inp.get("seq_sha256"),
        environment={str(k): str(v) for k, v in (d.get("environment") or {}).items()},
    )
    unknown = sorted(set(recipe.options) - set(method_options(recipe.method)))
    if unknown:
        raise ParameterError(f"{p}: method {recipe.method!r} has no option(s) {unknown}")
    not_pre = sorted(set(recipe.preprocess) - set(PREPROCESS_DEFAULTS))
    if not_pre:
        raise ParameterError(
            f"{p}: unknown preprocessing option(s) {not_pre}; known: {sorted(PREPROCESS_DEFAULTS)}"
        )
    check_preprocessing(**recipe.preprocess)
    return recipe


def run_recipe_steps(
    recipe: Recipe,
    *,
    input_file: str | os.PathLike[str] | None = None,
    check_hash: bool = True,
) -> Steps[ImageData]:
    """Replay a recipe as a progress generator.

    Parameters
    ----------
    recipe
        What to run.
    input_file
        Run on another file than the recorded one (no hash check then).
    check_hash
        With the recorded input, refuse to run when its SHA-256 changed.

    Returns
    -------
    ImageData
        The generator's return value; ``meta["recipe"]`` holds the recipe dict.

    Raises
    ------
    DataError
        The recorded input changed since the recipe was made.
    """
    from recon_engine.api import read, reconstruct_steps

    path = recipe.input_file if input_file is None else str(input_file)
    if input_file is None and check_hash and recipe.input_sha256 is not None:
        if not Path(path).is_file():
            raise FileFormatError(f"{path}: the recipe's input file does not exist (pass another with -i)")
        if file_sha256(path) != recipe.input_sha256:
            raise DataError(f"{path}: file changed since the recipe was saved (SHA-256 differs)")
    kspace = read(path, seq=recipe.seq, **recipe.read_options)
    image = yield from reconstruct_steps(
        kspace, method=recipe.method, device=recipe.device, **recipe.preprocess, **recipe.options
    )
    image.meta["recipe"] = recipe.to_dict()
    return image
