"""Preprocessing shared by every reconstruction method: partial Fourier, then coil compression.

:func:`preprocess_steps` runs before any method (``direct``, ``grappa``, ``sense``, ``tv``,
``wavelet`` …) when :func:`recon_engine.reconstruct_steps` is given its options; recipes
record them in their ``preprocess`` section, ``mrrecon recon`` takes
``--partial-fourier`` / ``--coil-compression N --compression-method``, and the
"MR Reconstruction" dock shows them in a "Preprocessing" form. One helper, not one copy per
method.

Order:

1. Partial Fourier (``"pocs"`` or ``"homodyne"``,
   :mod:`recon_engine.calibration.partial_fourier`) fills the missing side of an
   asymmetrically sampled Cartesian k-space per coil; ``"zero-fill"`` (the default) leaves
   the missing samples 0. It comes first because geometric coil compression mixes the
   readout samples (its hybrid space), after which an asymmetric echo can no longer be told
   apart. The acquired range must be fully sampled: parallel-imaging data must be unaliased
   first, so POCS/homodyne with undersampled data raise a :class:`DataError`.
2. Coil compression to ``coil_compression`` virtual coils (``0`` keeps all;
   :mod:`recon_engine.calibration.coil_compression`): ``"svd"`` (one matrix, any trajectory)
   or ``"geometric"`` (one matrix per readout position, Cartesian only). With a usable
   noise scan (and ``prewhitening``) the coils are prewhitened first, as compression
   assumes (its orthonormal rows keep white noise white; compressing correlated coils and
   whitening afterwards changes the image: 7.8 % NRMSE instead of 0.02 % for 16 → 8 coils
   of the synthetic test). The noise scan is whitened and compressed with the data, so the
   method's own prewhitening afterwards is the identity.

The k-space that reaches the method records both steps in ``meta["partial_fourier"]`` and
``meta["coil_compression"]``; :func:`recon_engine.reconstruct_steps` copies them with the
options into the image's ``meta["preprocess"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

import torch

from recon_engine.calibration.coil_compression import COMPRESSION_METHODS, CompressionMethod, compress_coils
from recon_engine.calibration.noise import noise_covariance, prewhiten, prewhitening_matrix
from recon_engine.calibration.partial_fourier import homodyne, pocs_partial_fourier
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import DataError, ParameterError
from recon_engine.progress import ProgressEvent, Steps

__all__ = [
    "PARTIAL_FOURIER_METHODS",
    "PREPROCESS_DEFAULTS",
    "PartialFourierMethod",
    "check_preprocessing",
    "preprocess_steps",
    "split_preprocessing",
]

PartialFourierMethod = Literal["zero-fill", "pocs", "homodyne"]
PARTIAL_FOURIER_METHODS: tuple[str, ...] = ("zero-fill", "pocs", "homodyne")

#: The preprocessing options and their defaults (nothing done).
PREPROCESS_DEFAULTS: dict[str, Any] = {
    "partial_fourier": "zero-fill",
    "coil_compression": 0,
    "compression_method": "svd",
}

_POCS_ITERATIONS = 10


def check_preprocessing(
    *, partial_fourier: str = "zero-fill", coil_compression: int = 0, compression_method: str = "svd"
) -> None:
    """Raise :class:`ParameterError` for impossible preprocessing options (before any work)."""
    if partial_fourier not in PARTIAL_FOURIER_METHODS:
        raise ParameterError(
            f"unknown partial Fourier method {partial_fourier!r}; choose one of {PARTIAL_FOURIER_METHODS}"
        )
    if (
        isinstance(coil_compression, bool)
        or int(coil_compression) != coil_compression
        or coil_compression < 0
    ):
        raise ParameterError(
            f"coil_compression is a number of virtual coils ≥ 1 (0 keeps all coils), got {coil_compression!r}"
        )
    if compression_method not in COMPRESSION_METHODS:
        raise ParameterError(
            f"unknown coil compression method {compression_method!r}; choose one of {COMPRESSION_METHODS}"
        )


def split_preprocessing(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keyword options into (preprocessing options, method options).

    Preprocessing options equal to their defaults are dropped, so a recipe or a snippet
    only names what is done.
    """
    pre = {k: v for k, v in options.items() if k in PREPROCESS_DEFAULTS and v != PREPROCESS_DEFAULTS[k]}
    if "compression_method" in pre and not pre.get("coil_compression"):
        del pre["compression_method"]  # no compression: the method is meaningless
    rest = {k: v for k, v in options.items() if k not in PREPROCESS_DEFAULTS}
    return pre, rest


def preprocess_steps(
    kspace: KSpace,
    *,
    partial_fourier: PartialFourierMethod = "zero-fill",
    coil_compression: int = 0,
    compression_method: CompressionMethod = "svd",
    prewhitening: bool = True,
    device: DeviceLike = "auto",
) -> Steps[KSpace]:
    """Partial Fourier filling, then coil compression (module docstring), as a progress generator.

    Parameters
    ----------
    kspace
        ``data`` complex64 ``(*other, coils, k2, k1, k0)``.
    partial_fourier
        ``"zero-fill"`` (missing samples stay 0), ``"pocs"`` (10 iterations) or
        ``"homodyne"``; POCS/homodyne need Cartesian data with a fully sampled acquired range.
    coil_compression
        Number of virtual coils, ``1 ≤ n ≤ coils``; 0 keeps all coils.
    compression_method
        ``"svd"`` or ``"geometric"`` (Cartesian only).
    prewhitening
        Prewhiten with the noise scan before compressing (when there is a usable one).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``; the returned k-space lives there when a step ran.

    Returns
    -------
    KSpace
        ``data`` ``(*other, n_virtual, k2, k1, k0)``, the input itself when nothing is asked.

    Raises
    ------
    ParameterError
        Unknown methods, ``coil_compression`` above the number of coils, geometric
        compression or POCS/homodyne with non-Cartesian data.
    DataError
        Partial Fourier on data whose acquired range is not fully sampled.
    """
    check_preprocessing(
        partial_fourier=partial_fourier,
        coil_compression=coil_compression,
        compression_method=compression_method,
    )
    steps = int(partial_fourier != "zero-fill") + int(coil_compression > 0)
    done = 0
    if partial_fourier != "zero-fill":
        yield ProgressEvent(f"partial Fourier ({partial_fourier})", done, steps)
        if partial_fourier == "pocs":
            kspace = pocs_partial_fourier(kspace, iterations=_POCS_ITERATIONS, device=device)
        else:
            kspace = homodyne(kspace, device=device)
        done += 1
    if coil_compression > 0:
        yield ProgressEvent(
            f"coil compression ({compression_method}, {kspace.n_coils} → {coil_compression})", done, steps
        )
        if prewhitening:
            kspace = _whitened(kspace, device)
        kspace = compress_coils(kspace, int(coil_compression), method=compression_method, device=device)
        done += 1
    return kspace


def _whitened(kspace: KSpace, device: DeviceLike) -> KSpace:
    """Data and noise scan prewhitened with the noise scan; unchanged without a usable one."""
    noise = kspace.noise
    if noise is None or noise.shape[0] != kspace.n_coils:
        return kspace
    dev = resolve_device(device)
    noise = noise.to(dev, torch.complex64)
    try:
        w = prewhitening_matrix(noise_covariance(noise))
    except DataError:
        return kspace  # the method warns about the unusable scan itself
    return replace(
        kspace.to(dev),
        data=prewhiten(kspace.data.to(dev, torch.complex64), w),
        noise=w @ noise,
        meta={**kspace.meta, "prewhitened_before_compression": True},
    )
