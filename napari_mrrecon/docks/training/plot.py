"""The Training dock's live plot: training loss per step and validation NRMSE per epoch.

A :class:`~napari_mrrecon._qt.canvas.ThemedCanvas` (napari theme colours, never pyplot) with
two axes sharing the optimiser-step axis: the loss of every step (log scale, the engine's
``"loss"`` metric) on the left, the validation NRMSE after each epoch (the engine's
``"val_nrmse"``, markers) on the right. Values are recorded as they come (:meth:`LossPlot.add_step`,
:meth:`LossPlot.add_epoch`) and drawn when the owner calls :meth:`LossPlot.redraw` (the dock:
at most a few times a second).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtWidgets import QWidget

from napari_mrrecon._qt.canvas import ThemedCanvas

if TYPE_CHECKING:
    import napari.viewer

__all__ = ["LossPlot"]


class LossPlot(ThemedCanvas):
    """Training loss per step (left axis) and validation NRMSE per epoch (right axis).

    Attributes
    ----------
    steps, losses
        Optimiser step (1-based) and loss of every recorded step.
    epoch_steps, val_nrmse
        The step at the end of each epoch and its validation NRMSE.
    total
        Steps of the whole run (the step axis spans them; 0: unknown).
    """

    def __init__(self, parent: QWidget | None = None, *, viewer: napari.viewer.Viewer | None = None) -> None:
        super().__init__(parent, viewer=viewer, figsize=(4.0, 2.4), min_height=170)
        self.figure.subplots_adjust(left=0.16, right=0.84, top=0.92, bottom=0.22)
        self.axes = self.figure.add_subplot(1, 1, 1)
        self.val_axes = self.axes.twinx()
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.epoch_steps: list[int] = []
        self.val_nrmse: list[float] = []
        self.total = 0
        self._dirty = False
        (self._loss_line,) = self.axes.plot([], [], color="C0", linewidth=1.0, label="loss")
        (self._val_line,) = self.val_axes.plot([], [], "o-", color="C1", markersize=4, label="val. NRMSE")
        self.axes.set_xlabel("step", fontsize=8)
        self.axes.set_ylabel("loss", fontsize=8, color="C0")
        self.val_axes.set_ylabel("validation NRMSE", fontsize=8, color="C1")
        for ax in (self.axes, self.val_axes):
            ax.tick_params(labelsize=7)
        self.axes.grid(True, alpha=0.3)
        self.canvas.draw_idle()

    def clear(self, total: int = 0) -> None:
        """Forget the values (a new run of ``total`` steps)."""
        self.steps.clear()
        self.losses.clear()
        self.epoch_steps.clear()
        self.val_nrmse.clear()
        self.total = int(total)
        self._dirty = True
        self.redraw()

    def add_step(self, step: int, loss: float, total: int = 0) -> None:
        """Record the loss of optimiser step ``step`` (of ``total``)."""
        self.steps.append(int(step))
        self.losses.append(float(loss))
        self.total = max(self.total, int(total))
        self._dirty = True

    def add_epoch(self, step: int, val_nrmse: float) -> None:
        """Record the validation NRMSE after the epoch that ended at ``step``."""
        self.epoch_steps.append(int(step))
        self.val_nrmse.append(float(val_nrmse))
        self._dirty = True

    def redraw(self) -> None:
        """Draw what was recorded since the last redraw (nothing when nothing is new)."""
        if not self._dirty:
            return
        self._dirty = False
        self._loss_line.set_data(self.steps, self.losses)
        self._val_line.set_data(self.epoch_steps, self.val_nrmse)
        positive = [v for v in self.losses if v > 0]
        self.axes.set_yscale("log" if positive and len(positive) == len(self.losses) else "linear")
        right = max(self.total, self.steps[-1] if self.steps else 1, 1)
        for ax in (self.axes, self.val_axes):
            ax.set_xlim(0, right)
            ax.relim()
            ax.autoscale_view(scalex=False)
        self.canvas.draw_idle()
