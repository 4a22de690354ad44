"""A small matplotlib plot of a solver's metrics (residual, objective) per iteration.

A :class:`~napari_mrrecon._qt.canvas.ThemedCanvas` (napari theme colours, never pyplot).
One axes per metric name, sharing the iteration axis; logarithmic when every
value is positive. Values are recorded as they come.

Drawing stays off the critical path of the GUI (a full draw of two axes with their tick
labels takes 20–80 ms, more on a loaded machine): the lines are *animated* artists drawn
onto a cached background (a few ms) when the owner calls :meth:`MetricsPlot.redraw` (the
recon dock: once per GUI frame, ≤ 10 a second), shown with a deferred ``update()`` rather than
``blit`` (an immediate repaint, which composes the whole napari window), and a full redraw
(``draw_idle``) happens only when the axes limits must grow. The iteration axis
spans the run's total number of iterations from the start, the value axis grows by whole
decades (log) or by half its span (linear), and a new run keeps the axes and limits of the
previous one when its metric names are the same, so a re-run does no full redraw at all.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from qtpy.QtWidgets import QWidget

from napari_mrrecon._qt.canvas import ThemedCanvas

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import napari.viewer
    from matplotlib.axes import Axes
    from matplotlib.lines import Line2D

__all__ = ["MAX_METRICS", "MetricsPlot", "grown_limits"]

#: Most metrics plotted (the first names seen).
MAX_METRICS = 3


def grown_limits(
    current: tuple[float, float] | None, low: float, high: float, *, log: bool
) -> tuple[float, float]:
    """Axis limits that contain ``[low, high]``, grown from ``current`` in coarse steps.

    Limits only grow (so most new values need no full redraw): on a log axis to whole
    decades, the overflowing side at least doubling the number of decades shown (a
    converging residual needs a few redraws, not one per decade); on a linear axis by at
    least half the span on the side that overflows.

    Parameters
    ----------
    current
        The present limits ``(bottom, top)``, or None for a fresh axis.
    low, high
        Smallest and largest value to show (``low > 0`` when ``log``).
    log
        Logarithmic axis.

    Returns
    -------
    tuple of float
        ``(bottom, top)`` with ``bottom <= low`` and ``top >= high``; ``current`` itself
        when it already contains the values.
    """
    if current is not None and current[0] <= low and high <= current[1]:
        return current
    if log:
        bottom = 10.0 ** math.floor(math.log10(low))
        top = 10.0 ** math.ceil(math.log10(high))
        if top <= bottom:
            top = bottom * 10.0
        if current is not None and current[0] > 0:
            ratio = current[1] / current[0]  # the side that overflows at least doubles its decades
            bottom = current[0] if low >= current[0] else min(bottom, current[0] / ratio)
            top = current[1] if high <= current[1] else max(top, current[1] * ratio)
        return bottom, top
    span = max(high - low, abs(high), 1e-12)
    if current is None:
        return low - 0.1 * span, high + 0.1 * span
    bottom, top = current
    step = max((top - bottom) / 2, 0.1 * span)
    return (bottom if low >= bottom else low - step, top if high <= top else high + step)


class MetricsPlot(ThemedCanvas):
    """Plot of named scalar metrics against the iteration.

    Parameters
    ----------
    parent
        Parent widget.
    names
        Metrics expected, in the order they come: their axes are built now (empty), so the
        first run does not rebuild the figure while it goes on. Other names rebuild it.
    viewer
        The viewer whose theme the plot follows.

    Attributes
    ----------
    history
        Metric name → ``(iterations, values)`` collected since the last :meth:`clear`.
    full_draws
        Number of full figure draws so far (limits grew, axes rebuilt, resize).
    """

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        names: Sequence[str] = (),
        viewer: napari.viewer.Viewer | None = None,
    ) -> None:
        super().__init__(parent, viewer=viewer, figsize=(4.0, 2.2), min_height=150)
        self.history: dict[str, tuple[list[int], list[float]]] = {}
        self.full_draws = 0
        self._axes: dict[str, Axes] = {}
        self._lines: dict[str, Line2D] = {}
        self._total = 0
        self._limited: set[str] = set()  # axes whose value limits come from data
        self._background: Any = None
        self.canvas.mpl_connect("draw_event", self._on_draw)
        self._build(list(names)[:MAX_METRICS])

    def clear(self) -> None:
        """Forget every value (a new run starts); the axes and their limits stay until new names come."""
        self.history.clear()
        self._total = 0
        for line in self._lines.values():
            line.set_data([], [])
        self._blit()

    def add(self, iteration: int, metrics: Mapping[str, float], total: int = 0) -> None:
        """Append one iteration's metrics (drawn at the next :meth:`redraw`).

        Parameters
        ----------
        iteration
            Iteration number (x).
        metrics
            Metric name → value.
        total
            Iterations of the whole run (the x-axis spans them from the start); 0 if unknown.
        """
        for name, value in metrics.items():
            if name not in self.history:
                if len(self.history) >= MAX_METRICS:
                    continue
                self.history[name] = ([], [])
            its, values = self.history[name]
            its.append(int(iteration))
            values.append(float(value))
        self._total = max(self._total, int(total))
        if list(self.history) != list(self._axes):
            self._build(list(self.history))  # new names: new axes (once per set of names)

    @property
    def axes(self) -> dict[str, Axes]:
        """Metric name → its axes (empty before the first values)."""
        return dict(self._axes)

    def on_theme_changed(self) -> None:
        """New colours: the cached background is stale until the next full draw."""
        self._background = None

    # ---- drawing ------------------------------------------------------------------------------
    def _build(self, names: list[str]) -> None:
        self.figure.clear()  # also resets the margins
        # fixed margins: constrained layout would measure every tick label at every redraw
        self.figure.subplots_adjust(left=0.2, right=0.97, top=0.96, bottom=0.2, hspace=0.12)
        self._axes.clear()
        self._lines.clear()
        self._limited.clear()
        self._background = None
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
            # animated: left out of full draws, blitted onto the cached background
            (line,) = ax.plot([], [], linewidth=1.2, color=f"C{i}", animated=True)
            ax.set_ylabel(name, fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(True, alpha=0.3)
            _set_scale(ax, log=True)
            ax.set_xlim(0, 1)
            if i < len(names) - 1:
                ax.tick_params(labelbottom=False)
            else:
                ax.set_xlabel("iteration", fontsize=8)
            self._axes[name] = ax
            self._lines[name] = line
        self.full_draws += 1
        self.canvas.draw_idle()

    def redraw(self) -> None:
        """Show the values added so far: blit the lines, or redraw all when the limits must grow."""
        grow = False
        for name, (its, values) in self.history.items():
            if not values or name not in self._axes:
                continue
            ax = self._axes[name]
            self._lines[name].set_data(its, values)
            log = min(values) > 0
            if log != (ax.get_yscale() == "log"):
                _set_scale(ax, log=log)
                self._limited.discard(name)
            bottom, top = ax.get_ylim()
            current = (float(bottom), float(top)) if name in self._limited else None
            limits = grown_limits(current, min(values), max(values), log=log)
            if limits != current:
                ax.set_ylim(*limits)
                self._limited.add(name)
                grow = True
            right = max(self._total, its[-1], 1)
            if ax.get_xlim()[1] < right or ax.get_xlim()[1] > 2 * right:
                ax.set_xlim(0, right)
                grow = True
        if grow or self._background is None:
            self.full_draws += 1
            self.canvas.draw_idle()  # _on_draw blits the lines afterwards
        else:
            self._blit()

    def _on_draw(self, event: Any = None) -> None:
        """After a full draw: keep the background (axes without lines) and blit the lines on it."""
        self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        self._draw_lines()

    def _blit(self) -> None:
        if self._background is None:
            return
        self.canvas.restore_region(self._background)
        self._draw_lines()
        self.canvas.update()  # painted from the Agg buffer with the rest of the window

    def _draw_lines(self) -> None:
        for name, line in self._lines.items():
            self._axes[name].draw_artist(line)


def _set_scale(ax: Axes, *, log: bool) -> None:
    """Log or linear value axis, with cheap ticks (no minor log ticks, no mathtext labels)."""
    from matplotlib.ticker import LogFormatter, NullLocator

    ax.set_yscale("log" if log else "linear")
    if log:
        ax.yaxis.set_minor_locator(NullLocator())  # minor log ticks cost more than they show
        ax.yaxis.set_major_formatter(LogFormatter())  # plain "1e-05": no mathtext layout
