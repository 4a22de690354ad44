"""Training images and simulated acquisitions for the learned models.

Sources (all offline):

- :func:`textured_phantom`: random multi-tissue "head" phantoms made here — an elliptical
  skull/scalp ring and 3–12 random ellipses of tissue intensities (painted in order, as the
  Shepp–Logan phantom of :mod:`recon_engine.simulate.phantom`), a few random polygons, smooth
  multiplicative texture (Gaussian-filtered noise at two scales), a smooth bias field and a
  random smooth phase.
- :func:`skimage_images`: the natural images that ship inside the scikit-image wheel
  (``camera``, ``astronaut``, ``brick``, ``grass``, ``gravel``, ``moon``, ``coins``, ``retina``,
  …; never the ones that download), cut out by a random ellipse-like support and given a
  random smooth phase, so that they look like an object in a field of view.
- :func:`load_user_images`: the user's images (``.npy``, NIfTI, DICOM folders, ISMRMRD image
  files; magnitude or complex; 2D, 3D volumes slice by slice), via
  :func:`recon_engine.qmri.load_series`.

Scaling (the models' expected input): every image is divided by the 99th percentile of its
magnitude, :func:`normalise` (:data:`SCALE_PERCENTILE`); noise levels are in the same units.

Acquisitions (:func:`simulate_batch`): ring-array coils
(:func:`recon_engine.simulate.coils.birdcage_sensitivities`, random count, radius and
rotation), 1D Cartesian undersampling masks from :func:`recon_engine.teaching.masks.sampling_mask`
(regular/random/variable density, random R and calibration width) and complex Gaussian noise.
"""

from __future__ import annotations

import glob
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter, map_coordinates, zoom

from recon_engine.errors import DataError, FileFormatError, ParameterError
from recon_engine.simulate.coils import birdcage_sensitivities
from recon_engine.teaching.masks import sampling_mask

__all__ = [
    "SCALE_PERCENTILE",
    "SKIMAGE_NAMES",
    "Acquisition",
    "ImagePool",
    "TrainingData",
    "describe_training_data",
    "images_from_arrays",
    "load_user_images",
    "normalise",
    "random_smooth_phase",
    "sense_normal",
    "simulate_batch",
    "skimage_images",
    "textured_phantom",
]

#: Images are scaled so that this percentile of the magnitude is 1.
SCALE_PERCENTILE = 99.0
#: scikit-image images that ship inside the wheel (no download).
SKIMAGE_NAMES: tuple[str, ...] = (
    "camera",
    "astronaut",
    "brick",
    "grass",
    "gravel",
    "moon",
    "coins",
    "retina",
    "coffee",
    "chelsea",
    "rocket",
    "page",
    "cell",
    "immunohistochemistry",
    "microaneurysms",
    "motorcycle",
    "clock",
)


def normalise(image: np.ndarray | torch.Tensor) -> tuple[np.ndarray | torch.Tensor, float]:
    """Divide by the 99th percentile of the magnitude; return the scaled image and the scale."""
    if isinstance(image, torch.Tensor):
        mag = image.detach().abs().reshape(-1).float()
        s = float(torch.quantile(mag[:: max(1, mag.numel() // 2**20)], SCALE_PERCENTILE / 100.0))
    else:
        s = float(np.percentile(np.abs(image), SCALE_PERCENTILE))
    s = s if s > 0 and math.isfinite(s) else 1.0
    return image / s, s


def _smooth_field(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    f = gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    return f / (f.std() + 1e-12)


def random_smooth_phase(rng: np.random.Generator, size: int, max_rad: float = math.pi) -> np.ndarray:
    """A smooth random phase map ``(size, size)`` in radians: a tilt, a curvature, a smooth field."""
    y, x = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    c = rng.uniform(-1, 1, 6)
    poly = c[0] * x + c[1] * y + 0.5 * (c[2] * x * x + c[3] * y * y + c[4] * x * y) + c[5]
    field = _smooth_field(rng, size, size / 6.0)
    return (max_rad * rng.uniform(0.2, 1.0)) * (0.6 * poly + 0.4 * field)


def _ellipse(
    x: np.ndarray, y: np.ndarray, cx: float, cy: float, a: float, b: float, phi: float
) -> np.ndarray:
    c, s = math.cos(phi), math.sin(phi)
    u, v = (x - cx) * c + (y - cy) * s, -(x - cx) * s + (y - cy) * c
    return (u / a) ** 2 + (v / b) ** 2 <= 1.0


def _polygon(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, centre: tuple[float, float], r: float
) -> np.ndarray:
    """A random star-shaped polygon (radius ``r`` around ``centre``) as a mask."""
    k = int(rng.integers(3, 8))
    ang = np.sort(rng.uniform(0, 2 * math.pi, k))
    rad = r * rng.uniform(0.4, 1.0, k)
    theta = np.arctan2(y - centre[1], x - centre[0]) % (2 * math.pi)
    dist = np.hypot(x - centre[0], y - centre[1])
    limit = np.interp(theta, np.r_[ang - 2 * math.pi, ang, ang + 2 * math.pi], np.r_[rad, rad, rad])
    return dist <= limit


def textured_phantom(size: int, rng: np.random.Generator, *, complex_valued: bool = True) -> np.ndarray:
    """A random multi-tissue phantom, magnitude 99th percentile = 1.

    Parameters
    ----------
    size
        Matrix ``size × size`` (≥ 16).
    rng
        Source of randomness (the phantom is a function of its state).
    complex_valued
        Multiply by a random smooth phase.

    Returns
    -------
    np.ndarray
        complex64 (or float32) ``(size, size)``.
    """
    if size < 16:
        raise ParameterError(f"phantom size must be ≥ 16, got {size}")
    y, x = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    a, b = rng.uniform(0.55, 0.92), rng.uniform(0.55, 0.92)
    phi = rng.uniform(-0.4, 0.4)
    cx, cy = rng.uniform(-0.08, 0.08, 2)
    img = np.zeros((size, size))
    img[_ellipse(x, y, cx, cy, a, b, phi)] = rng.uniform(0.6, 1.0)  # scalp/skull ring
    t = rng.uniform(0.04, 0.12)
    img[_ellipse(x, y, cx, cy, a - t, b - t, phi)] = rng.uniform(0.05, 0.4)
    inner = _ellipse(x, y, cx, cy, a - t - 0.02, b - t - 0.02, phi)
    img[inner] = rng.uniform(0.3, 0.8)  # "white matter"
    for _ in range(int(rng.integers(3, 13))):
        r = rng.uniform(0.03, 0.35)
        ex, ey = cx + rng.uniform(-0.6, 0.6) * a, cy + rng.uniform(-0.6, 0.6) * b
        shape = (
            _ellipse(x, y, ex, ey, r, r * rng.uniform(0.3, 1.0), rng.uniform(0, math.pi))
            if rng.random() < 0.7
            else _polygon(x, y, rng, (ex, ey), r)
        )
        img[shape & inner] = rng.uniform(0.0, 1.0)
    img = gaussian_filter(img, rng.uniform(0.3, 1.2))  # partial volume at the edges
    texture = 1.0 + rng.uniform(0.0, 0.25) * _smooth_field(rng, size, rng.uniform(1.0, 3.0))
    texture *= 1.0 + rng.uniform(0.0, 0.15) * _smooth_field(rng, size, rng.uniform(4.0, 10.0))
    bias = np.exp(rng.uniform(0.0, 0.4) * _smooth_field(rng, size, size / 4.0))
    img = np.clip(img * texture * bias, 0.0, None)
    out = img * np.exp(1j * random_smooth_phase(rng, size)) if complex_valued else img
    scaled, _ = normalise(out)
    return np.asarray(scaled, dtype=np.complex64 if complex_valued else np.float32)


def skimage_images() -> list[np.ndarray]:
    """The grayscale float images of :data:`SKIMAGE_NAMES` that load here (none downloads).

    Returns an empty list when scikit-image is not installed.
    """
    try:
        import skimage.data as skd
        from skimage.color import rgb2gray
    except ImportError:
        return []
    out = []
    for name in SKIMAGE_NAMES:
        fn = getattr(skd, name, None)
        if fn is None:
            continue
        try:
            img = fn()
        except Exception:  # a fetcher that would need the network, a missing file
            continue
        if isinstance(img, tuple):
            img = img[0]
        arr = np.asarray(img, dtype=np.float64)
        if arr.ndim == 3:
            arr = rgb2gray(arr[..., :3])
        if arr.ndim == 2 and min(arr.shape) >= 64:
            out.append((arr / max(float(arr.max()), 1e-12)).astype(np.float32))
    return out


def load_user_images(data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[np.ndarray]:
    """2D training images from files: a directory, a glob pattern or a list of paths.

    Every file (or DICOM folder) is read by :func:`recon_engine.qmri.load_series`
    (``.npy``, ``.nii``/``.nii.gz``, DICOM directories, ISMRMRD ``.h5``/``.mrd``); every 2D plane
    of its last two axes becomes one image (magnitude or complex, as stored). A directory holding
    DICOM files is one series; a directory holding other files is scanned for them.

    Returns
    -------
    list of np.ndarray
        complex64 ``(y, x)`` images (at least 16 × 16), unscaled.

    Raises
    ------
    FileFormatError
        Nothing readable found.
    """
    from recon_engine.qmri.series import load_series

    if isinstance(data, (str, os.PathLike)):
        s = str(data)
        p = Path(s).expanduser()
        if p.is_dir():
            files = sorted(q for q in p.iterdir() if not q.name.startswith("."))
            dicom = [q for q in files if q.suffix.lower() in (".dcm", ".ima") or q.suffix == ""]
            paths: list[Path] = (
                [p] if dicom and len(dicom) == len([q for q in files if q.is_file()]) else files
            )
        elif p.exists():
            paths = [p]
        else:
            paths = [Path(q) for q in sorted(glob.glob(os.path.expanduser(s), recursive=True))]
    else:
        paths = [Path(q) for q in data]
    images: list[np.ndarray] = []
    errors: list[str] = []
    for q in paths:
        try:
            if q.suffix.lower() == ".npy":  # any array of ≥ 2 axes (load_series wants a contrast axis)
                arr = np.load(q, allow_pickle=False)
                if arr.ndim < 2:
                    raise DataError(f"{q}: an image needs ≥ 2 axes, got shape {arr.shape}")
            else:
                arr = np.asarray(load_series(q).data)
        except (FileFormatError, DataError, ValueError) as exc:
            errors.append(f"{q.name}: {exc}")
            continue
        planes = arr.reshape(-1, *arr.shape[-2:])
        images += [np.asarray(plane, dtype=np.complex64) for plane in planes if min(plane.shape) >= 16]
    images = [im for im in images if np.abs(im).max() > 0]
    if not images:
        detail = f" ({'; '.join(errors[:3])})" if errors else ""
        raise FileFormatError(f"no 2D training images found in {data!s}{detail}")
    return images


def images_from_arrays(arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """2D training images from arrays in memory (e.g. the images open in a viewer).

    Every array is an image ``(y, x)`` or a stack/volume ``(..., z, y, x)``, magnitude or complex,
    any intensity units; each 2D plane of its last two axes becomes one image. Volumes of one
    readout sample (``x = 1``, ``z > 1``) give their ``(z, y)`` plane, as the networks see them
    (:func:`recon_engine.learned.denoiser.to_planes`). Planes smaller than 16 × 16 and planes that
    are all zero are left out.

    Parameters
    ----------
    arrays
        The images; real (magnitude) or complex numbers.

    Returns
    -------
    list of np.ndarray
        complex64 ``(rows, columns)`` images, unscaled.

    Raises
    ------
    DataError
        An array that is not numeric, has fewer than 2 axes or holds NaN/Inf, or no plane of at
        least 16 × 16 pixels.
    """
    images: list[np.ndarray] = []
    shapes = []
    for i, a in enumerate(arrays):
        arr = np.asarray(a)
        shapes.append(arr.shape)
        if not (np.issubdtype(arr.dtype, np.number) and not np.issubdtype(arr.dtype, np.timedelta64)):
            raise DataError(f"training image {i}: not numeric (dtype {arr.dtype})")
        if arr.ndim < 2:
            raise DataError(f"training image {i}: an image needs ≥ 2 axes, got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise DataError(f"training image {i} (shape {arr.shape}) holds NaN or Inf values")
        if arr.ndim >= 3 and arr.shape[-1] == 1 and arr.shape[-3] > 1:
            arr = arr[..., 0]
        for plane in arr.reshape(-1, *arr.shape[-2:]):
            if min(plane.shape) >= 16 and np.abs(plane).max() > 0:
                images.append(np.asarray(plane, dtype=np.complex64))
    if not images:
        raise DataError(
            f"no training image of at least 16 × 16 pixels that is not all zero among the arrays of shapes "
            f"{shapes[:4]}{'…' if len(shapes) > 4 else ''}"
        )
    return images


#: What the training functions accept as ``data``: a directory, a glob, a list of files or of
#: arrays (:func:`load_user_images`, :func:`images_from_arrays`), or None (phantoms + scikit-image).
TrainingData = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Sequence[np.ndarray] | None


def describe_training_data(data: TrainingData) -> str:
    """One line naming the training data (stored in a weights file's ``meta``)."""
    if data is None:
        return "textured phantoms + scikit-image"
    if isinstance(data, (str, os.PathLike)):
        return "user images: " + str(data)
    items = list(data)
    arrays = [a for a in items if isinstance(a, np.ndarray)]
    if items and len(arrays) == len(items):
        return f"user images: {len(arrays)} arrays in memory, shapes {[a.shape for a in arrays][:6]}"
    return "user images: " + ", ".join(str(q) for q in items[:6]) + ("…" if len(items) > 6 else "")


def _crop_resize(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random square crop (50–100 % of the short side), resized to ``size``, random flip/rotation."""
    h, w = img.shape
    side = int(min(h, w) * rng.uniform(0.5, 1.0))
    side = max(side, min(h, w, 16))
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = img[y0 : y0 + side, x0 : x0 + side]
    if side != size:
        factor = size / side
        if np.iscomplexobj(crop):
            crop = zoom(crop.real, factor, order=1) + 1j * zoom(crop.imag, factor, order=1)
        else:
            crop = zoom(crop, factor, order=1)
        crop = crop[:size, :size]
        if crop.shape != (size, size):
            crop = np.pad(crop, [(0, size - crop.shape[0]), (0, size - crop.shape[1])])
    crop = np.rot90(crop, int(rng.integers(0, 4)))
    return crop[:, ::-1] if rng.random() < 0.5 else crop


def _support(rng: np.random.Generator, size: int) -> np.ndarray:
    """A soft random blob-like support (an ellipse with a wobbly, smooth edge)."""
    y, x = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    a, b, phi = rng.uniform(0.6, 0.98), rng.uniform(0.6, 0.98), rng.uniform(0, math.pi)
    c, s = math.cos(phi), math.sin(phi)
    u, v = x * c + y * s, -x * s + y * c
    r = np.sqrt((u / a) ** 2 + (v / b) ** 2) + 0.08 * _smooth_field(rng, size, size / 8.0)
    return np.clip((1.0 - r) * size / 4.0, 0.0, 1.0)


def _natural_sample(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    crop = _crop_resize(img, size, rng)
    if not np.iscomplexobj(crop):
        crop = crop * _support(rng, size) if rng.random() < 0.8 else crop
        crop = crop * np.exp(1j * random_smooth_phase(rng, size))
    scaled, _ = normalise(np.asarray(crop))
    return np.asarray(scaled, dtype=np.complex64)


@dataclass
class ImagePool:
    """Draws normalised complex training images ``(size, size)``.

    Parameters
    ----------
    size
        Matrix of the training images.
    images
        Base images to crop from (user images, scikit-image images); empty: phantoms only.
    phantom_fraction
        Probability of a :func:`textured_phantom` instead of a crop of ``images`` (1 when
        ``images`` is empty).
    """

    size: int
    images: list[np.ndarray]
    phantom_fraction: float = 0.5

    @classmethod
    def default(cls, size: int, data: TrainingData = None) -> ImagePool:
        """User images (``data``, phantoms 0 %) or phantoms + scikit-image images (50/50).

        ``data``: a directory, glob or list of files (:func:`load_user_images`) or a list of
        arrays (:func:`images_from_arrays`).
        """
        if data is None:
            return cls(size, skimage_images(), 0.5)
        if not isinstance(data, (str, os.PathLike)):
            items = list(data)
            arrays = [a for a in items if isinstance(a, np.ndarray)]
            if items and len(arrays) == len(items):
                return cls(size, images_from_arrays(arrays), 0.0)
            if not items:
                raise DataError("no training images given (an empty list)")
            return cls(size, load_user_images(items), 0.0)  # type: ignore[arg-type]
        return cls(size, load_user_images(data), 0.0)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One image, complex64 ``(size, size)``, 99th-percentile magnitude 1."""
        if not self.images or rng.random() < self.phantom_fraction:
            return textured_phantom(self.size, rng)
        return _natural_sample(self.images[int(rng.integers(len(self.images)))], self.size, rng)

    def batch(self, rng: np.random.Generator, n: int) -> torch.Tensor:
        """``n`` images, complex64 ``(n, size, size)``."""
        return torch.from_numpy(np.stack([self.draw(rng) for _ in range(n)]))


@dataclass
class Acquisition:
    """A batch of simulated multi-coil Cartesian acquisitions (training and validation).

    Attributes
    ----------
    truth
        complex64 ``(B, y, x)``, scaled (99th percentile 1).
    maps
        complex64 ``(B, C, y, x)``, ``Σ_c |S_c|² = 1``.
    mask
        bool ``(B, y, x)`` (whole ``k_y`` lines).
    data
        complex64 ``(B, C, y, x)``, masked noisy k-space (centred orthonormal FFT).
    """

    truth: torch.Tensor
    maps: torch.Tensor
    mask: torch.Tensor
    data: torch.Tensor

    def to(self, device: torch.device | str) -> Acquisition:
        """On ``device``."""
        return Acquisition(*(t.to(device) for t in (self.truth, self.maps, self.mask, self.data)))


def _fft(x: torch.Tensor) -> torch.Tensor:
    return torch.fft.fftshift(
        torch.fft.fft2(torch.fft.ifftshift(x, dim=(-2, -1)), norm="ortho"), dim=(-2, -1)
    )


def _ifft(x: torch.Tensor) -> torch.Tensor:
    return torch.fft.fftshift(
        torch.fft.ifft2(torch.fft.ifftshift(x, dim=(-2, -1)), norm="ortho"), dim=(-2, -1)
    )


def _coils(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    maps = birdcage_sensitivities(n, (size, size), relative_radius=float(rng.uniform(1.1, 2.0)))
    # rotate the array by a random angle (the ring has one fixed orientation)
    ang = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:size, 0:size] - (size // 2)
    c, s = math.cos(ang), math.sin(ang)
    coords = np.stack([c * yy - s * xx, s * yy + c * xx]) + size // 2
    rot = np.stack(
        [
            map_coordinates(m.real, coords, order=1, mode="nearest")
            + 1j * map_coordinates(m.imag, coords, order=1, mode="nearest")
            for m in maps
        ]
    )
    rot /= np.sqrt((np.abs(rot) ** 2).sum(0, keepdims=True)) + 1e-12
    return rot.astype(np.complex64)


def simulate_batch(
    images: torch.Tensor,
    rng: np.random.Generator,
    *,
    accelerations: Sequence[float] = (3.0, 4.0, 5.0, 6.0, 8.0),
    calibration: Sequence[int] = (12, 16, 24),
    noise: tuple[float, float] = (0.002, 0.03),
    patterns: Sequence[str] = ("regular", "regular", "random", "variable_density"),
) -> Acquisition:
    """Simulate undersampled multi-coil k-space of scaled images.

    Parameters
    ----------
    images
        complex64 ``(B, y, x)`` (scaled: 99th percentile 1).
    rng
        Draws coils, masks (pattern, R, calibration, seed) and noise.
    accelerations, calibration
        Choices of R and of the calibration width (lines, scaled with the matrix over 128).
    noise
        Range of the noise std per real component, in image units (log-uniform).
    patterns
        1D patterns of :func:`~recon_engine.teaching.masks.sampling_mask` to draw from
        (uniformly; repeat one to draw it more often).

    Returns
    -------
    Acquisition
    """
    b, ny, nx = images.shape
    maps, masks, data = [], [], []
    n_coils = int(rng.choice([4, 8, 8, 12, 16]))  # one count per batch (stacked maps)
    for i in range(b):
        s = torch.from_numpy(_coils(rng, ny, n_coils))
        pattern = str(rng.choice(list(patterns)))
        r = float(rng.choice(list(accelerations)))
        cal = max(4, round(int(rng.choice(list(calibration))) * ny / 128))
        m = torch.from_numpy(
            np.array(sampling_mask((ny, nx), pattern, r, calibration=cal, seed=int(rng.integers(2**31))))
        )
        sigma = math.exp(rng.uniform(math.log(noise[0]), math.log(noise[1])))
        k = _fft(s * images[i])
        g = torch.from_numpy(rng.standard_normal((2, *k.shape)).astype(np.float32))
        k = (k + sigma * torch.complex(g[0], g[1])) * m
        maps.append(s)
        masks.append(m)
        data.append(k.to(torch.complex64))
    return Acquisition(images, torch.stack(maps), torch.stack(masks), torch.stack(data))


def sense_normal(
    maps: torch.Tensor, mask: torch.Tensor
) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
    """``AᴴA`` and ``Aᴴ`` of batched Cartesian SENSE ``A = M F S``.

    ``maps`` ``(B, C, y, x)``, ``mask`` ``(B, y, x)``; images ``(B, y, x)``, data ``(B, C, y, x)``.
    """
    m = mask[:, None].to(maps.dtype)

    def normal(x: torch.Tensor) -> torch.Tensor:
        return (maps.conj() * _ifft(m * _fft(maps * x[:, None]))).sum(1)

    def adjoint(d: torch.Tensor) -> torch.Tensor:
        return (maps.conj() * _ifft(m * d)).sum(1)

    return normal, adjoint
