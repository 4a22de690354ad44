"""Region-of-interest statistics of parameter maps."""

from __future__ import annotations

import numpy as np

from recon_engine.errors import DataError

__all__ = ["roi_statistics"]


def roi_statistics(
    maps: dict[str, np.ndarray], labels: np.ndarray, units: dict[str, str] | None = None
) -> list[dict[str, float | int | str]]:
    """Mean, SD, median and voxel count of every map in every labelled region.

    Parameters
    ----------
    maps
        Name → map (spatial shape, e.g. ``(y, x)`` or ``(z, y, x)``); NaN voxels are ignored.
    labels
        int array of the same spatial shape; 0 is background, each other value one region.
    units
        Optional map name → unit, copied into the rows as ``"unit"``.

    Returns
    -------
    list[dict]
        One row per (label, map) in label order: ``{"label", "map", "unit", "mean", "sd"
        (sample SD, ddof=1; NaN for one voxel), "median", "n"}``; statistics are NaN when
        the region holds no finite voxel.

    Raises
    ------
    DataError
        If a map's shape differs from the labels'.
    """
    lab = np.asarray(labels)
    rows: list[dict[str, float | int | str]] = []
    for name, m in maps.items():
        if np.shape(m) != lab.shape:
            raise DataError(f"map {name!r} has shape {np.shape(m)} but the labels are {lab.shape}")
    for value in np.unique(lab[lab != 0]):
        region = lab == value
        for name, m in maps.items():
            v = np.asarray(m, dtype=np.float64)[region]
            v = v[np.isfinite(v)]
            n = int(v.size)
            rows.append(
                {
                    "label": int(value),
                    "map": name,
                    "unit": (units or {}).get(name, ""),
                    "mean": float(v.mean()) if n else float("nan"),
                    "sd": float(v.std(ddof=1)) if n > 1 else float("nan"),
                    "median": float(np.median(v)) if n else float("nan"),
                    "n": n,
                }
            )
    return rows
