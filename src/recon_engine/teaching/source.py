"""What the K-space Explorer looks at: a fully sampled multi-coil 2D k-space and its coil maps.

Three ways in: the built-in phantom, any image turned into multi-coil k-space with simulated
coils, or a loaded raw dataset (one 2D slice; readout oversampling removed; coils prewhitened
with the noise scan when there is one). The reference image combines the coils with the maps,
``ρ = Σ_c S_c* x_c / Σ_c |S_c|²`` (exactly the object for simulated data), or by
root-sum-of-squares when the dataset came without maps. Maps of a raw dataset are estimated
with ESPIRiT the first time a reconstruction needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

from recon_engine.calibration.coil_maps import estimate_coil_maps
from recon_engine.calibration.noise import noise_covariance, prewhiten, prewhitening_matrix
from recon_engine.calibration.oversampling import fit_to_recon_space
from recon_engine.data.kspace import KSpace
from recon_engine.errors import DataError, ParameterError
from recon_engine.simulate.coils import birdcage_sensitivities
from recon_engine.simulate.phantom import shepp_logan
from recon_engine.teaching._container import cartesian_kspace
from recon_engine.teaching._fft import fft2c, ifft2c, tensor

__all__ = ["ExplorerSource", "combine_coils", "image_to_kspace", "simulated_coils"]

T = TypeVar("T")


def simulated_coils(shape: tuple[int, int], n_coils: int = 8) -> np.ndarray:
    """Smooth receive sensitivities of a ring of coils around the FOV.

    Parameters
    ----------
    shape
        Image ``(y, x)``.
    n_coils
        Number of coils (≥ 1).

    Returns
    -------
    np.ndarray
        complex64 ``(coils, y, x)``, normalised to ``Σ_c |S_c|² = 1`` (see
        :func:`recon_engine.simulate.coils.birdcage_sensitivities`).
    """
    return birdcage_sensitivities(int(n_coils), tuple(int(s) for s in shape))


def image_to_kspace(image: np.ndarray, n_coils: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Multi-coil k-space of an image seen by simulated coils: ``k_c = F(S_c ρ)``.

    Parameters
    ----------
    image
        Real or complex ``(y, x)``.
    n_coils
        Number of simulated coils.

    Returns
    -------
    kspace, maps
        complex64 ``(coils, ky, kx)`` and ``(coils, y, x)``.
    """
    img = np.asarray(image)
    if img.ndim != 2 or min(img.shape) < 8:
        raise ParameterError(f"the explorer needs a 2D image (y, x) of at least 8 × 8, got shape {img.shape}")
    if not np.isfinite(img).all():
        raise DataError("the image contains NaN or infinite values")
    maps = simulated_coils(img.shape, n_coils)
    return fft2c(maps * img.astype(np.complex64)), maps


def combine_coils(images: torch.Tensor, maps: torch.Tensor | None) -> torch.Tensor:
    """``Σ S_c* x_c / Σ |S_c|²`` over axis 0 (0 where the maps vanish), or RSS without maps."""
    if maps is None:
        return torch.sqrt((torch.view_as_real(images) ** 2).sum(dim=(0, -1))).to(torch.complex64)
    power = (maps.abs() ** 2).sum(dim=0)
    inv = torch.where(power > 1e-12, 1.0 / power.clamp_min(1e-12), 0.0)
    return (maps.conj() * images).sum(dim=0) * inv


def _smooth_phase(n: int) -> np.ndarray:
    """A gentle background phase (linear + quadratic, ≤ ~0.8π across the FOV), as real images have."""
    r = (np.arange(n) - n // 2) / (n / 2.0)
    return np.exp(1j * (0.5 * np.pi * r[None, :] + 0.3 * np.pi * r[:, None] ** 2))


def _volume(kspace: KSpace, slice_index: int) -> torch.Tensor:
    data = kspace.data
    for axis in kspace.other_axes:
        size = data.shape[0]
        if axis == "average":
            data = data.sum(dim=0)
        elif axis == "slice":
            if not 0 <= slice_index < size:
                raise ParameterError(f"slice_index {slice_index} outside the {size} slices of the dataset")
            data = data[slice_index]
        else:
            data = data[0]
    return data.to(torch.complex64)


@dataclass(eq=False)
class ExplorerSource:
    """Fully sampled multi-coil 2D k-space, with coil maps when known.

    Attributes
    ----------
    kspace
        complex64 ``(coils, ky, kx)``, fully sampled, centre at ``N // 2``.
    maps
        complex64 ``(coils, y, x)`` coil sensitivities, or None (estimated when needed; the
        reference then combines by root-sum-of-squares).
    name
        Shown in the GUI.

    Notes
    -----
    Precomputations (coil images, reference, FFT-ordered arrays, noise, radial set-ups) are cached
    on the instance: treat its arrays as read-only.
    """

    kspace: np.ndarray
    maps: np.ndarray | None = None
    name: str = "source"
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        k = np.asarray(self.kspace)
        if k.ndim != 3 or min(k.shape[1:]) < 8:
            raise ParameterError(
                f"k-space must be (coils, ky, kx) with at least 8 × 8 samples, got {k.shape}"
            )
        if not np.isfinite(k).all():
            raise DataError("k-space contains NaN or infinite values")
        self.kspace = np.ascontiguousarray(k, dtype=np.complex64)
        if self.maps is not None:
            m = np.asarray(self.maps)
            if m.shape != k.shape:
                raise DataError(f"coil maps {m.shape} do not match the k-space {k.shape} (coils, y, x)")
            self.maps = np.ascontiguousarray(m, dtype=np.complex64)

    def __repr__(self) -> str:
        maps = "given maps" if self.maps is not None else "no maps"
        return f"ExplorerSource({self.name!r}, {self.n_coils} coils, {self.shape[0]}×{self.shape[1]}, {maps})"

    @property
    def shape(self) -> tuple[int, int]:
        """Image / k-space matrix ``(y, x)``."""
        return int(self.kspace.shape[1]), int(self.kspace.shape[2])

    @property
    def n_coils(self) -> int:
        """Number of coils."""
        return int(self.kspace.shape[0])

    def cached(self, key: str, make: Callable[[], T]) -> T:
        """Value of ``make()`` computed once per source (the explorer's precomputations)."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]  # type: ignore[no-any-return]

    @classmethod
    def phantom(cls, n: int = 256, n_coils: int = 8) -> ExplorerSource:
        """Modified Shepp–Logan phantom ``n × n`` with a smooth background phase and ``n_coils`` coils."""
        image = shepp_logan(int(n)) * _smooth_phase(int(n))
        k, maps = image_to_kspace(image, n_coils)
        return cls(k, maps, name=f"Shepp–Logan {n}², {n_coils} coils")

    @classmethod
    def from_image(cls, image: np.ndarray, n_coils: int = 8, name: str = "image") -> ExplorerSource:
        """Any ``(y, x)`` image (real or complex) seen by ``n_coils`` simulated coils."""
        k, maps = image_to_kspace(image, n_coils)
        return cls(k, maps, name=name)

    @classmethod
    def from_kspace(cls, kspace: KSpace, *, slice_index: int = 0) -> ExplorerSource:
        """One 2D slice of a loaded, fully sampled Cartesian multi-coil raw dataset.

        Averages are summed, other axes (contrasts, repetitions...) take their first entry, a 3D
        acquisition gives its central partition; coils are prewhitened with the noise scan and
        readout oversampling is removed. Coil maps are estimated (ESPIRiT) when a
        reconstruction first needs them.

        Raises
        ------
        ParameterError
            Non-Cartesian data, or ``slice_index`` out of range.
        DataError
            Undersampled data (the explorer needs the fully sampled reference), NaNs.
        """
        if kspace.trajectory is not None or not kspace.header.is_cartesian:
            raise ParameterError(
                "the K-space Explorer starts from Cartesian raw data; reconstruct it and use from_image"
            )
        data = _volume(kspace, slice_index)  # (coils, k2, k1, k0)
        mask = kspace.sampling_mask.reshape(-1, *kspace.sampling_mask.shape[-2:])[0]
        if not bool(mask.all()):
            raise DataError(
                f"this dataset is undersampled (effective R = {kspace.acceleration:.2f}); the explorer needs "
                "fully sampled k-space as its reference: reconstruct it first and start from the image"
            )
        if kspace.noise is not None and kspace.noise.shape[0] == data.shape[0]:
            w = prewhitening_matrix(noise_covariance(kspace.noise.to(torch.complex64)))
            data = prewhiten(data, w)
        nz = data.shape[-3]
        img = torch.fft.fftshift(
            torch.fft.ifft(torch.fft.ifftshift(data, dim=-3), dim=-3, norm="ortho"), dim=-3
        )
        img = img[:, nz // 2 : nz // 2 + 1]
        img = torch.from_numpy(ifft2c(img))  # (coils, 1, y, x) encoded space
        img = fit_to_recon_space(img, kspace.header)[:, 0]
        name = f"{kspace.source or 'raw data'} (slice {slice_index})"
        return cls(fft2c(img), None, name=name)

    def coil_images(self) -> np.ndarray:
        """complex64 ``(coils, y, x)`` fully sampled coil images (cached)."""
        return self.cached("coil_images", lambda: ifft2c(self.kspace))

    def coil_maps(self) -> np.ndarray:
        """The given maps, or ESPIRiT maps estimated from the fully sampled data (cached)."""
        if self.maps is not None:
            return self.maps
        return self.cached("estimated_maps", self._estimate_maps)

    def _estimate_maps(self) -> np.ndarray:
        full = np.ones(self.shape, dtype=bool)
        ks = cartesian_kspace(self.kspace, full, full, points=False)
        maps = estimate_coil_maps(ks, method="espirit", device="cpu")  # (1, coils, 1, y, x)
        return np.ascontiguousarray(maps[0, :, 0].numpy(), dtype=np.complex64)

    def combine(self, images: np.ndarray | torch.Tensor) -> np.ndarray:
        """Coil images ``(coils, y, x)`` → complex64 ``(y, x)`` combined as the reference is."""
        maps = None if self.maps is None else tensor(self.maps)
        return combine_coils(tensor(images), maps).numpy()

    def reference(self) -> np.ndarray:
        """complex64 ``(y, x)`` fully sampled coil-combined image (cached)."""
        return self.cached("reference", lambda: self.combine(self.coil_images()))
