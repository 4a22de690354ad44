"""ThemedCanvas: a plot in a dock takes the napari theme's colours and follows a theme change."""

from __future__ import annotations

from typing import Any

from matplotlib.colors import to_hex

from napari_mrrecon._qt.canvas import ThemedCanvas, theme_colours


def test_canvas_follows_the_viewer_theme(make_napari_viewer: Any, qtbot: Any) -> None:
    viewer = make_napari_viewer()
    viewer.theme = "dark"
    plot = ThemedCanvas(viewer=viewer)
    qtbot.addWidget(plot)
    ax = plot.figure.add_subplot()
    ax.set_title("t")
    plot.canvas.draw()
    dark = theme_colours("dark")
    assert to_hex(plot.figure.get_facecolor()) == dark.background
    assert to_hex(ax.get_facecolor()) == dark.background
    assert to_hex(ax.title.get_color()) == dark.text

    viewer.theme = "light"  # the canvas listens to viewer.events.theme and redraws
    light = theme_colours("light")
    assert light.background != dark.background
    assert plot.colours == light
    plot.canvas.draw()
    assert to_hex(plot.figure.get_facecolor()) == light.background
    assert to_hex(ax.get_facecolor()) == light.background
    assert to_hex(ax.xaxis.label.get_color()) == light.text


def test_a_deliberate_face_colour_stays(make_napari_viewer: Any, qtbot: Any) -> None:
    viewer = make_napari_viewer()
    plot = ThemedCanvas(viewer=viewer)
    qtbot.addWidget(plot)
    ax = plot.figure.add_subplot()
    ax.set_facecolor("black")  # e.g. behind a sampling mask
    viewer.theme = "light"
    plot.canvas.draw()
    assert to_hex(ax.get_facecolor()) == "#000000"
