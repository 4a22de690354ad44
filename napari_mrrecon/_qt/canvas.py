"""One matplotlib canvas for every plot in a dock, in the colours of the napari theme.

:class:`ThemedCanvas` is a widget holding a :class:`matplotlib.figure.Figure` drawn by a
``backend_qtagg`` canvas (never pyplot: no global figure manager, no second event loop) and
optionally matplotlib's navigation toolbar. It follows the napari theme, dark or light: the
figure and axes backgrounds, spines, ticks, tick labels, axis labels, titles, legends and
colour bars take the theme's colours at every full draw (so axes that an owner rebuilds
later get them too), and a theme change (``viewer.events.theme``, or napari's appearance
setting without a viewer) redraws the figure. Colours an owner set on purpose (a black
background behind a sampling mask, grey hint text) are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from qtpy.QtWidgets import QVBoxLayout, QWidget

if TYPE_CHECKING:
    import napari.viewer
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ThemeColours", "ThemedCanvas", "theme_colours"]

_WHITE = (1.0, 1.0, 1.0, 1.0)


@dataclass(frozen=True)
class ThemeColours:
    """The colours a plot takes from a napari theme (hex strings)."""

    background: str
    foreground: str
    text: str
    grid: str


def theme_colours(name: str) -> ThemeColours:
    """Plot colours of the napari theme ``name`` (``"dark"``, ``"light"``, ``"system"``, …).

    An unknown name gives the dark theme's colours.
    """
    from napari.utils.theme import available_themes, get_theme

    theme = get_theme(name if name in available_themes() else "dark")
    return ThemeColours(
        background=theme.background.as_hex(),
        foreground=theme.foreground.as_hex(),
        text=theme.text.as_hex(),
        grid=theme.secondary.as_hex(),
    )


class _Canvas(FigureCanvasQTAgg):
    """A Qt Agg canvas that gives its figure the theme's colours before each full draw."""

    def __init__(self, figure: Figure, owner: ThemedCanvas) -> None:
        self._owner = owner
        super().__init__(figure)

    def draw(self) -> None:
        owner = getattr(self, "_owner", None)
        if owner is not None:
            owner.style_figure()
        super().draw()


class ThemedCanvas(QWidget):
    """A matplotlib figure in a dock that follows the napari theme.

    Parameters
    ----------
    parent
        Parent widget.
    viewer
        The napari viewer whose theme the plot follows (None: napari's appearance setting).
    figsize
        Figure size in inches (the widget stretches it).
    layout
        Figure layout engine (e.g. ``"constrained"``), or None for fixed margins.
    min_height
        Smallest height of the canvas (px).
    toolbar
        Add matplotlib's navigation toolbar (pan, zoom, save) above the canvas.

    Attributes
    ----------
    figure, canvas, toolbar
        The figure, its Qt canvas and the toolbar (or None).
    colours
        The theme colours in use.
    """

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        viewer: napari.viewer.Viewer | None = None,
        figsize: tuple[float, float] = (4.0, 3.0),
        layout: Literal["constrained", "compressed", "tight"] | None = None,
        min_height: int = 150,
        toolbar: bool = False,
    ) -> None:
        super().__init__(parent)
        from matplotlib.figure import Figure

        self._viewer = viewer
        self.colours = theme_colours(self.theme_name())
        self._previous: ThemeColours | None = None
        self.figure = Figure(figsize=figsize, layout=layout)
        self.canvas = _Canvas(self.figure, self)
        self.canvas.setMinimumHeight(min_height)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        self.toolbar: Any = None
        if toolbar:
            from matplotlib.backends.backend_qtagg import NavigationToolbar2QT

            self.toolbar = NavigationToolbar2QT(self.canvas, self)
            box.addWidget(self.toolbar)
        box.addWidget(self.canvas, 1)
        self._connect_theme()

    # ---- theme ----------------------------------------------------------------------------
    def theme_name(self) -> str:
        """The napari theme in use (the viewer's, else napari's appearance setting)."""
        if self._viewer is not None:
            return str(getattr(self._viewer, "theme", "dark"))
        from napari.settings import get_settings

        return str(get_settings().appearance.theme)

    def _connect_theme(self) -> None:
        if self._viewer is not None:
            emitter = self._viewer.events.theme
        else:
            from napari.settings import get_settings

            emitter = get_settings().appearance.events.theme
        emitter.connect(self._on_theme)
        self.destroyed.connect(lambda *_: emitter.disconnect(self._on_theme))

    def _on_theme(self, event: Any = None) -> None:
        self.set_theme(self.theme_name())

    def set_theme(self, name: str) -> None:
        """Use the colours of the napari theme ``name`` and redraw."""
        colours = theme_colours(name)
        if colours != self.colours:
            self._previous, self.colours = self.colours, colours
            self.on_theme_changed()
            self.canvas.draw_idle()

    def on_theme_changed(self) -> None:
        """Called after the colours changed, before the redraw (e.g. to rebuild cached backgrounds)."""

    # ---- styling --------------------------------------------------------------------------
    def style_figure(self) -> None:
        """Give the figure and all its axes the theme's colours (before each full draw)."""
        c = self.colours
        self.figure.patch.set_facecolor(c.background)
        for ax in self.figure.axes:
            self.style_axes(ax)

    def style_axes(self, ax: Axes) -> None:
        """Give one axes (and its legend) the theme's colours; deliberate face colours stay."""
        from matplotlib.colors import to_rgba

        c = self.colours
        face = to_rgba(ax.get_facecolor())
        replaceable = {_WHITE, to_rgba(c.background)}
        if self._previous is not None:
            replaceable.add(to_rgba(self._previous.background))
        if face in replaceable:
            ax.set_facecolor(c.background)
        for spine in ax.spines.values():
            spine.set_edgecolor(c.text)
        ax.tick_params(colors=c.text, which="both")
        for axis in _axes_of(ax):
            axis.label.set_color(c.text)
        ax.title.set_color(c.text)
        for line in ax.get_xgridlines() + ax.get_ygridlines():
            line.set_color(c.grid)
        legend = ax.get_legend()
        if legend is not None:
            legend.get_frame().set_facecolor(c.background)
            legend.get_frame().set_edgecolor(c.grid)
            for text in legend.get_texts():
                text.set_color(c.text)


def _axes_of(ax: Axes) -> list[Any]:
    """The x, y (and z, for 3D axes) axis objects of ``ax``."""
    axes = [ax.xaxis, ax.yaxis]
    zaxis = getattr(ax, "zaxis", None)
    if zaxis is not None:
        axes.append(zaxis)
    return axes
