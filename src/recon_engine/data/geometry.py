"""Geometry of an image volume in the patient (DICOM/ISMRMRD LPS) coordinate system.

ISMRMRD and DICOM use the patient coordinate system LPS (x towards the patient's left,
y posterior, z head). NIfTI uses RAS; :meth:`Geometry.affine_ras` converts.

Image arrays are ``(*other, coils, z, y, x)``: ``x`` runs along the read direction,
``y`` along the phase-encoding direction and ``z`` along the slice (partition) direction.
The voxel at index ``N // 2`` of each axis sits at the FOV centre (``position``),
which is where a centred FFT puts k-space's DC term.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["Geometry"]

_IDENTITY = np.eye(3, dtype=np.float64)


def _unit_or_none(v: np.ndarray) -> np.ndarray | None:
    n = float(np.linalg.norm(v))
    if not np.isfinite(n) or n < 1e-6:
        return None
    return np.asarray(v, dtype=np.float64) / n


@dataclass(frozen=True)
class Geometry:
    """Where an image volume lies in space.

    Attributes
    ----------
    matrix
        Number of voxels ``(x, y, z)``.
    fov_mm
        Field of view ``(x, y, z)`` in mm. For 2D data ``z`` is the slice thickness.
    position_mm
        FOV centre in LPS patient coordinates (mm), shape ``(3,)``.
    read_dir, phase_dir, slice_dir
        Unit vectors (LPS) of the x, y and z image axes, each shape ``(3,)``.
    slice_positions_mm
        Centre of every slice for multi-slice 2D data, shape ``(n_slices, 3)``;
        empty for a single slice or 3D data.
    orientation_assumed
        True when the file gave no valid orientation and the identity was assumed.
    """

    matrix: tuple[int, int, int]
    fov_mm: tuple[float, float, float]
    position_mm: np.ndarray = field(default_factory=lambda: np.zeros(3))
    read_dir: np.ndarray = field(default_factory=lambda: _IDENTITY[0].copy())
    phase_dir: np.ndarray = field(default_factory=lambda: _IDENTITY[1].copy())
    slice_dir: np.ndarray = field(default_factory=lambda: _IDENTITY[2].copy())
    slice_positions_mm: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    orientation_assumed: bool = False

    @staticmethod
    def from_vectors(
        matrix: tuple[int, int, int],
        fov_mm: tuple[float, float, float],
        position_mm: np.ndarray | None = None,
        read_dir: np.ndarray | None = None,
        phase_dir: np.ndarray | None = None,
        slice_dir: np.ndarray | None = None,
    ) -> Geometry:
        """Build a geometry, repairing missing or degenerate direction vectors.

        Files written by the official ISMRMRD tools store zero direction vectors; the
        identity orientation is used then and ``orientation_assumed`` is set. A missing ``slice_dir`` is
        completed as ``read_dir × phase_dir``.
        """
        pos = np.zeros(3) if position_mm is None else np.asarray(position_mm, dtype=np.float64)
        if not np.all(np.isfinite(pos)):
            pos = np.zeros(3)
        r = _unit_or_none(np.zeros(3) if read_dir is None else np.asarray(read_dir))
        p = _unit_or_none(np.zeros(3) if phase_dir is None else np.asarray(phase_dir))
        s = _unit_or_none(np.zeros(3) if slice_dir is None else np.asarray(slice_dir))
        assumed = False
        if r is None or p is None or abs(float(r @ p)) > 1e-3:
            r, p, s = _IDENTITY[0].copy(), _IDENTITY[1].copy(), _IDENTITY[2].copy()
            assumed = True
        elif s is None or abs(float(s @ r)) > 1e-3 or abs(float(s @ p)) > 1e-3:
            s = np.cross(r, p)
        fov = tuple(float(v) for v in fov_mm)
        return Geometry(
            matrix=(int(matrix[0]), int(matrix[1]), int(matrix[2])),
            fov_mm=(fov[0], fov[1], fov[2]),
            position_mm=pos,
            read_dir=r,
            phase_dir=p,
            slice_dir=s,
            orientation_assumed=assumed,
        )

    @property
    def voxel_size_mm(self) -> tuple[float, float, float]:
        """Voxel size ``(dx, dy, dz)`` in mm (``dz`` is the slice thickness for 2D)."""
        return (
            self.fov_mm[0] / max(self.matrix[0], 1),
            self.fov_mm[1] / max(self.matrix[1], 1),
            self.fov_mm[2] / max(self.matrix[2], 1),
        )

    @property
    def rotation(self) -> np.ndarray:
        """Columns are ``read_dir, phase_dir, slice_dir`` (LPS), shape ``(3, 3)``."""
        return np.stack([self.read_dir, self.phase_dir, self.slice_dir], axis=1)

    def affine_lps(self, slice_index: int | None = None) -> np.ndarray:
        """4×4 affine from voxel indices ``(i=x, j=y, k=z)`` to LPS mm.

        Parameters
        ----------
        slice_index
            For multi-slice 2D data, which slice's centre to use (from
            ``slice_positions_mm``); ``None`` uses ``position_mm``.

        Returns
        -------
        np.ndarray
            Shape ``(4, 4)``, float64.
        """
        centre = self.position_mm
        if slice_index is not None and len(self.slice_positions_mm) > slice_index:
            centre = self.slice_positions_mm[slice_index]
        m = self.rotation * np.asarray(self.voxel_size_mm)[None, :]
        half = np.array([n // 2 for n in self.matrix], dtype=np.float64)
        a = np.eye(4)
        a[:3, :3] = m
        a[:3, 3] = centre - m @ half
        return a

    def affine_ras(self, slice_index: int | None = None) -> np.ndarray:
        """4×4 affine from voxel indices ``(x, y, z)`` to RAS mm (NIfTI convention)."""
        return np.diag([-1.0, -1.0, 1.0, 1.0]) @ self.affine_lps(slice_index)

    def with_matrix(self, matrix: tuple[int, int, int], fov_mm: tuple[float, float, float]) -> Geometry:
        """Same position and orientation with another matrix and FOV."""
        return replace(self, matrix=matrix, fov_mm=fov_mm)

    def with_slices(self, slice_positions_mm: np.ndarray) -> Geometry:
        """Same geometry with per-slice centres ``(n_slices, 3)`` (LPS, mm)."""
        return replace(self, slice_positions_mm=np.asarray(slice_positions_mm, dtype=np.float64))
