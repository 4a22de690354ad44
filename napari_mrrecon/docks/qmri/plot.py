"""The signal of one voxel and its fitted curve, in a matplotlib canvas inside the qMRI dock.

A :class:`~napari_mrrecon._qt.canvas.ThemedCanvas` (napari theme colours, never pyplot); measured points as
markers, the model curve as a line, the fitted parameters of the voxel in the title.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtWidgets import QWidget

from napari_mrrecon._qt.canvas import ThemedCanvas

if TYPE_CHECKING:
    import napari.viewer

    from recon_engine.qmri import FitResult

__all__ = ["CurvePlot", "VoxelCurve", "voxel_curve"]


@dataclass(frozen=True)
class VoxelCurve:
    """What the plot shows for one voxel.

    Attributes
    ----------
    index
        Voxel index into the maps' spatial shape ``([z,] y, x)``.
    times, observed
        ``(n,)`` the measured times (ms, or flip angles in deg) and the signal the fit saw.
    curve_times, curve
        ``(m,)`` the model curve at the fitted parameters.
    xlabel
        Axis label of the times, e.g. ``"TI [ms]"``.
    title
        The fitted values, e.g. ``"(12, 30)  T1 = 830 ms  R² = 0.999"``.
    """

    index: tuple[int, ...]
    times: np.ndarray
    observed: np.ndarray
    curve_times: np.ndarray
    curve: np.ndarray
    xlabel: str
    title: str


def voxel_curve(result: FitResult, index: tuple[int, ...], main: str) -> VoxelCurve:
    """The data and fitted curve of one voxel (``FitResult.observed`` / ``FitResult.curve``).

    For inversion recovery on magnitude data the curve is ``|S|``, so the (polarity-restored)
    data are shown as magnitudes too. ``main`` (e.g. ``"t1"``) and R² go into the title.
    """
    from napari_mrrecon.layers.qmri import MAP_LABELS
    from recon_engine.qmri import model_info

    observed = np.asarray(result.observed(index), dtype=float)
    if getattr(result, "magnitude", False):
        observed = np.abs(observed)
    curve_times, curve = result.curve(index)
    info = model_info(result.model)
    values = "  ".join(
        f"{MAP_LABELS.get(k, k)} = {float(result.maps[k][index]):.4g} {result.units.get(k, '')}".rstrip()
        for k in (main, "r2")
        if k in result.maps
    )
    times = np.asarray(result.times, dtype=float)  # ms, or degrees for VFA
    curve_times = np.asarray(curve_times, dtype=float)
    xlabel = f"{info.times_label} [{info.times_unit}]"
    frames = np.arange(observed.size, dtype=float)
    if curve_times.shape == frames.shape and np.array_equal(curve_times, frames):
        times, xlabel = frames, "frame"  # fingerprinting: the fit is over the frames of the schedule
    return VoxelCurve(
        index=tuple(int(i) for i in index),
        times=times,
        observed=observed,
        curve_times=curve_times,
        curve=np.asarray(curve, dtype=float),
        xlabel=xlabel,
        title=f"voxel {tuple(int(i) for i in index)}  {values}",
    )


class CurvePlot(ThemedCanvas):
    """Measured signal (markers) and fitted curve (line) of the clicked voxel.

    Attributes
    ----------
    shown
        The voxel curve on display, or None.
    """

    def __init__(self, parent: QWidget | None = None, *, viewer: napari.viewer.Viewer | None = None) -> None:
        super().__init__(parent, viewer=viewer, figsize=(4.0, 2.4), min_height=170)
        self.shown: VoxelCurve | None = None
        self.figure.subplots_adjust(left=0.17, right=0.97, top=0.88, bottom=0.24)
        self.axes = self.figure.add_subplot(1, 1, 1)
        self.clear()

    def clear(self, message: str = "click a voxel of a map to see its signal and fit") -> None:
        """Empty plot with a hint."""
        self.shown = None
        ax = self.axes
        ax.clear()
        ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="0.5", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        self.canvas.draw_idle()

    def show_curve(self, curve: VoxelCurve) -> None:
        """Plot one voxel's data and fit."""
        self.shown = curve
        ax = self.axes
        ax.clear()
        ax.plot(curve.curve_times, curve.curve, color="C1", linewidth=1.4, label="fit")
        ax.plot(curve.times, curve.observed, "o", color="C0", markersize=4, label="data")
        ax.axhline(0.0, color="0.6", linewidth=0.6)
        ax.set_xlabel(curve.xlabel, fontsize=8)
        ax.set_ylabel("signal", fontsize=8)
        ax.set_title(curve.title, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        finite = np.isfinite(curve.curve).all() and np.isfinite(curve.observed).all()
        if finite:
            ax.relim()
            ax.autoscale_view()
        self.canvas.draw_idle()
