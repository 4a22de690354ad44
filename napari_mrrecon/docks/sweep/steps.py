"""The Sweep dock's work, without Qt: parse a list of values, run one reconstruction per value.

:func:`sweep_steps` is what the dock's single worker runs: the engine's
:func:`recon_engine.reconstruct_steps` once per value, one after the other, re-yielding
each run's progress (scaled to the whole sweep) and yielding a :class:`SweepItem` as each
result is ready, with NRMSE/SSIM (:mod:`recon_engine.metrics`) against a reference
magnitude image when one is given.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_mrrecon._qt.forms import OptionSpec
from napari_mrrecon._qt.numbers import format_short, parse_float, split_numbers

if TYPE_CHECKING:
    from recon_engine.data import ImageData, KSpace
    from recon_engine.progress import ProgressEvent

__all__ = [
    "SWEEPABLE",
    "SweepItem",
    "format_value",
    "magnitude_of",
    "parse_values",
    "short_name",
    "suggest_values",
    "sweep_steps",
]

#: Option kinds a sweep can vary.
SWEEPABLE = ("float", "int", "bool", "choice")

#: Steps of one run in the sweep's progress (``iteration``/``total`` of its events).
_STEPS_PER_RUN = 1000
_SHORT = {"regularization_weight": "λ", "temporal_weight": "λt"}
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


@dataclass(frozen=True)
class SweepItem:
    """One finished run of a sweep.

    Attributes
    ----------
    index
        Position in the list of values.
    value
        The swept parameter's value.
    image
        The reconstruction, complex64 ``(*other, coils, z, y, x)``.
    seconds
        Wall time of this run.
    nrmse, ssim
        Against the reference magnitude (None without a reference or when it does not fit).
    """

    index: int
    value: Any
    image: ImageData
    seconds: float
    nrmse: float | None = None
    ssim: float | None = None


def short_name(parameter: str) -> str:
    """Short label of a parameter (``regularization_weight`` → ``λ``)."""
    return _SHORT.get(parameter, parameter.replace("_", " "))


def format_value(value: Any) -> str:
    """``0.001``, ``1e-05``, ``20``, ``espirit``."""
    if isinstance(value, float):
        return format_short(value, 3)
    return str(getattr(value, "value", value))


def parse_values(text: str, spec: OptionSpec) -> list[Any]:
    """Parse a comma- or space-separated list of values for the option ``spec``.

    Raises
    ------
    ValueError
        Empty list, a value of the wrong type, or a choice that is not offered.
    """
    tokens = split_numbers(text)
    if not tokens:
        raise ValueError(f"Sweep: give values for {spec.label} (e.g. 0.001, 0.01, 0.1)")
    values: list[Any] = []
    for token in tokens:
        try:
            values.append(_parse_one(token, spec))
        except ValueError:
            raise ValueError(f"Sweep: {token!r} is not a valid {spec.label}") from None
    return values


def _parse_one(token: str, spec: OptionSpec) -> Any:
    if spec.kind == "float":
        return parse_float(token)
    if spec.kind == "int":
        return int(token)
    if spec.kind == "bool":
        if token.lower() in _TRUE:
            return True
        if token.lower() in _FALSE:
            return False
        raise ValueError(token)
    if spec.kind == "choice":
        for choice in spec.choices:
            if token == format_value(choice) or token == str(choice):
                return choice
        raise ValueError(token)
    raise ValueError(f"{spec.name} ({spec.kind}) cannot be swept")


def suggest_values(spec: OptionSpec) -> str:
    """A starting list for the values field: decades around a float, neighbours of an int, all choices."""
    if spec.kind == "float":
        d = float(spec.default)
        if d > 0:
            scale = 10.0 ** math.floor(math.log10(d))
            return ", ".join(f"{scale * f:.3g}" for f in (0.1, 0.3, 1, 3, 10))
        return "0, 0.001, 0.01, 0.1"
    if spec.kind == "int":
        d = int(spec.default)
        if d <= 0:
            return "0, 1, 2"
        return ", ".join(str(v) for v in sorted({max(1, d // 2), d, 2 * d}))
    if spec.kind == "bool":
        return "false, true"
    return ", ".join(format_value(c) for c in spec.choices)


def magnitude_of(image: ImageData) -> np.ndarray:
    """Float32 magnitude with the coil axis dropped when combined: ``(*other, z, y, x)``."""
    mag = image.magnitude()
    return mag[..., 0, :, :, :] if mag.shape[-4] == 1 else mag


def _quality(mag: np.ndarray, reference: np.ndarray | None) -> tuple[float | None, float | None]:
    """NRMSE and SSIM of ``mag`` against ``reference`` (None where they do not apply)."""
    from recon_engine.errors import ParameterError
    from recon_engine.metrics import nrmse, ssim

    if reference is None:
        return None, None
    a, b = np.squeeze(mag), np.squeeze(reference)
    if a.shape != b.shape:
        return None, None
    try:
        error = nrmse(a, b)
    except ParameterError:
        error = None
    try:
        similarity = ssim(a, b)
    except ParameterError:
        similarity = None
    return error, similarity


def sweep_steps(
    kspace: KSpace,
    *,
    method: str,
    parameter: str,
    values: Sequence[Any],
    device: str = "auto",
    options: Mapping[str, Any] | None = None,
    reference: np.ndarray | None = None,
) -> Generator[ProgressEvent | SweepItem, None, list[SweepItem]]:
    """Reconstruct ``kspace`` once per value of ``parameter``, one run after the other.

    Parameters
    ----------
    kspace
        ``(*other, coils, k2, k1, k0)``.
    method
        Name in :data:`recon_engine.reconstructions.METHODS`.
    parameter
        The option that is varied.
    values
        Its values, in order.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    options
        The method's other options.
    reference
        Magnitude image to compare each result with (same shape as the result's
        magnitude after dropping singleton axes), or None.

    Yields
    ------
    ProgressEvent or SweepItem
        Each run's events (``iteration``/``total`` over the whole sweep, stage prefixed
        with the value) and, after each run, its :class:`SweepItem`.

    Returns
    -------
    list of SweepItem
        All results, in the order of ``values``.
    """
    from recon_engine.api import reconstruct_steps
    from recon_engine.progress import ProgressEvent

    n = len(values)
    total = n * _STEPS_PER_RUN
    items: list[SweepItem] = []
    for i, value in enumerate(values):
        label = f"{short_name(parameter)}={format_value(value)} ({i + 1}/{n})"
        start = time.perf_counter()
        run = reconstruct_steps(kspace, method=method, device=device, **{**(options or {}), parameter: value})
        while True:
            try:
                event = next(run)
            except StopIteration as stop:
                image: ImageData = stop.value
                break
            done = i * _STEPS_PER_RUN + round(event.fraction * _STEPS_PER_RUN)
            yield ProgressEvent(f"{label} {event.stage}", done, total, event.preview, event.metrics)
        seconds = time.perf_counter() - start
        error, similarity = _quality(magnitude_of(image), reference)
        item = SweepItem(i, value, image, seconds, error, similarity)
        items.append(item)
        yield item
    return items
