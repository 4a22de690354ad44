"""A small matplotlib plot of a solver's metrics (residual, objective) per iteration.

Lives inside a dock: :class:`matplotlib.figure.Figure` + ``FigureCanvasQTAgg`` (never
pyplot). One axes per metric name, sharing the iteration axis; logarithmic when every
value is positive. Values are recorded as they come; redraws are throttled (at most 4 a
second, fewer when drawing is slow; the last one is always made).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from qtpy.QtWidgets import QVBoxLayout, QWidget

if TYPE_CHECKING:
    from collections.abc import Mapping

    from matplotlib.axes import Axes
    from matplotlib.lines import Line2D

__all__ = ["MAX_METRICS", "REDRAW_INTERVAL_MS", "MetricsPlot"]

#: Most metrics plotted (the first names seen).
MAX_METRICS = 3
#: Shortest time between two redraws (ms); longer when a draw takes more than a quarter of it.
REDRAW_INTERVAL_MS = 250


class MetricsPlot(QWidget):
    """Plot of named scalar metrics against the iteration.

    Attributes
    ----------
    history
        Metric name → ``(iterations, values)`` collected since the last :meth:`clear`.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.history: dict[str, tuple[list[int], list[float]]] = {}
        self._axes: dict[str, Axes] = {}
        self._lines: dict[str, Line2D] = {}
        # fixed margins: constrained layout would measure every tick label at every redraw
        self.figure = Figure(figsize=(4.0, 2.2))
        self.figure.subplots_adjust(left=0.2, right=0.97, top=0.96, bottom=0.2, hspace=0.12)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(150)
        from superqt.utils import qthrottled

        # solvers can report hundreds of iterations a second: redraw a few times a second
        self._redraw = qthrottled(self._update, timeout=REDRAW_INTERVAL_MS, leading=True, parent=self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self._rebuild()

    def clear(self) -> None:
        """Forget every value (a new run starts)."""
        self._redraw.cancel()
        self.history.clear()
        self._rebuild()

    def add(self, iteration: int, metrics: Mapping[str, float]) -> None:
        """Append one iteration's metrics and schedule a redraw."""
        new = False
        for name, value in metrics.items():
            if name not in self.history:
                if len(self.history) >= MAX_METRICS:
                    continue
                self.history[name] = ([], [])
                new = True
            its, values = self.history[name]
            its.append(int(iteration))
            values.append(float(value))
        if new:
            self._rebuild()
        else:
            self._redraw()

    def _rebuild(self) -> None:
        self.figure.clear()
        self._axes.clear()
        self._lines.clear()
        names = list(self.history)
        if not names:
            ax = self.figure.add_subplot(1, 1, 1)
            ax.set_xlabel("iteration")
            ax.text(0.5, 0.5, "residual / objective per iteration", ha="center", va="center",
                    transform=ax.transAxes, color="0.5", fontsize=8)  # fmt: skip
            ax.set_xticks([])
            ax.set_yticks([])
        first: Axes | None = None
        for i, name in enumerate(names):
            ax = self.figure.add_subplot(len(names), 1, i + 1, sharex=first)
            first = first or ax
            (line,) = ax.plot([], [], linewidth=1.2, color=f"C{i}")
            ax.set_ylabel(name, fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(True, alpha=0.3)
            if i < len(names) - 1:
                ax.tick_params(labelbottom=False)
            else:
                ax.set_xlabel("iteration", fontsize=8)
            self._axes[name] = ax
            self._lines[name] = line
        self._update()

    def _update(self) -> None:
        from matplotlib.ticker import NullLocator

        start = time.perf_counter()
        for name, (its, values) in self.history.items():
            ax, line = self._axes[name], self._lines[name]
            line.set_data(its, values)
            scale = "log" if values and min(values) > 0 else "linear"
            if ax.get_yscale() != scale:
                ax.set_yscale(scale)
                ax.yaxis.set_minor_locator(NullLocator())  # minor log ticks cost more than they show
            ax.relim()
            ax.autoscale_view()
        self.canvas.draw()
        # a slow machine draws slowly: keep redraws under ~25 % of the main thread's time
        took_ms = (time.perf_counter() - start) * 1000
        self._redraw.setTimeout(int(max(REDRAW_INTERVAL_MS, 4 * took_ms)))
