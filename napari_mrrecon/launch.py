"""``mrrecon gui``: napari with the plugin's docks, files loaded and reconstructed.

:func:`launch` opens a viewer, docks "MR Reconstruction" and "Metadata", opens the files
(or the R = 2 phantom sample), reconstructs every raw dataset with the dock's current
settings (waiting for each worker), optionally saves a screenshot of the whole window and
either exits or hands over to the napari event loop. When a Pulseq ``.seq`` is among the
files, or raw data is non-Cartesian, the "Trajectory" dock (and for a ``.seq`` the
"Sequence" dock) is opened as well. Also runnable as
``python -m napari_mrrecon.launch FILE… [--screenshot PNG] [--quit] [--sample]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import napari.viewer

    from napari_mrrecon._base import EngineRunWidget

__all__ = ["PLUGIN", "SAMPLE", "launch", "main", "populate"]

#: npe2 name of the plugin.
PLUGIN = "napari-mrrecon"
#: Sample opened when no file is given and ``sample=True``.
SAMPLE = "phantom_R2"
_WINDOW_SIZE = (1500, 950)


def _wait_for_run(widget: EngineRunWidget) -> None:
    """Start the widget's worker and process Qt events until it has finished."""
    from qtpy.QtCore import QEventLoop

    loop = QEventLoop()
    widget.run_finished.connect(loop.quit)
    try:
        if widget.run() is not None:
            loop.exec()
    finally:
        widget.run_finished.disconnect(loop.quit)


def _grid(viewer: napari.viewer.Viewer) -> Any:
    """The viewer's grid settings (``viewer.canvas.grid`` since napari 0.9)."""
    from napari_mrrecon._views import viewer_grid

    return viewer_grid(viewer)


def _settle(rounds: int = 5) -> None:
    """Let Qt lay out and paint the window (docks, canvas) before a screenshot."""
    from qtpy.QtCore import QEventLoop, QTimer
    from qtpy.QtWidgets import QApplication

    for _ in range(rounds):
        QApplication.processEvents()
        loop = QEventLoop()
        QTimer.singleShot(40, loop.quit)
        loop.exec()


def populate(viewer: napari.viewer.Viewer, files: Sequence[str], *, sample: bool = False) -> list[str]:
    """Dock the widgets, open ``files`` (or the sample) and reconstruct every raw dataset.

    Waits for each reconstruction (Qt events keep being processed).

    Parameters
    ----------
    viewer
        The viewer to fill.
    files
        Files to open; raw data (ISMRMRD, twix) is reconstructed with the dock's settings,
        Pulseq ``.seq`` files are shown as trajectories.
    sample
        With no ``files``, open the R = 2 phantom sample.

    Returns
    -------
    list of str
        The error messages shown meanwhile (also printed to stderr).
    """
    from napari.utils.notifications import NotificationSeverity, notification_manager

    from napari_mrrecon._model import RawDataset, SequenceDataset, layers_with
    from napari_mrrecon._reader import get_reader
    from napari_mrrecon._seq_reader import get_seq_reader
    from napari_mrrecon._twix_reader import get_twix_reader

    errors: list[str] = []

    def echo(notification: Any) -> None:
        if notification.severity >= NotificationSeverity.ERROR:
            _echo_error(errors, str(notification.message))

    notification_manager.notification_ready.connect(echo)
    try:
        _, recon = viewer.window.add_plugin_dock_widget(PLUGIN, "MR Reconstruction")
        viewer.window.add_plugin_dock_widget(PLUGIN, "Metadata")
        for path in files:
            # napari's builtin reader also matches *.h5: name ours when it claims the file
            ours = (get_reader(path), get_twix_reader(path), get_seq_reader(path))
            plugin = PLUGIN if any(r is not None for r in ours) else None
            try:
                viewer.open(path, plugin=plugin)
            except Exception as exc:  # napari's own reader errors
                _echo_error(errors, f"cannot open {path}: {exc}")
        if sample and not files:
            viewer.open_sample(PLUGIN, SAMPLE)
        sequences = layers_with(viewer, SequenceDataset)
        non_cartesian = any(
            not layer.metadata["mrrecon"].kspace.header.is_cartesian
            for layer in layers_with(viewer, RawDataset)
        )
        if sequences or non_cartesian:
            viewer.window.add_plugin_dock_widget(PLUGIN, "Trajectory")
        if sequences:
            viewer.window.add_plugin_dock_widget(PLUGIN, "Sequence")
        for layer in layers_with(viewer, RawDataset):
            recon.dataset_choice.setCurrentText(layer.name)
            _wait_for_run(recon)
    finally:
        notification_manager.notification_ready.disconnect(echo)
    if len(viewer.layers) > 1:
        _grid(viewer).enabled = True  # k-space and images side by side
    viewer.reset_view()
    return errors


def launch(
    files: Sequence[str],
    *,
    screenshot: str | None = None,
    quit: bool = False,
    sample: bool = False,
) -> int:
    """Open napari with the plugin's docks, load and reconstruct ``files``.

    Parameters
    ----------
    files
        Files to open (ISMRMRD raw data is reconstructed; other files napari can read
        are just shown).
    screenshot
        Save a PNG of the whole viewer window once everything is reconstructed.
    quit
        Close the viewer and return instead of running the event loop.
    sample
        With no ``files``, open the R = 2 phantom sample.

    Returns
    -------
    int
        0 on success, 2 if a file could not be opened or a reconstruction failed
        (the messages are shown as notifications and printed to stderr).
    """
    import napari

    viewer = napari.Viewer(title="napari-mrrecon")
    viewer.window.resize(*_WINDOW_SIZE)
    errors = populate(viewer, files, sample=sample)
    if screenshot:
        _settle()
        viewer.screenshot(screenshot, canvas_only=False)
    if quit:
        viewer.close()
    else:
        napari.run()
    return 2 if errors else 0


def _echo_error(errors: list[str], message: str) -> None:
    errors.append(message)
    print(f"mrrecon gui: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: ``python -m napari_mrrecon.launch``."""
    parser = argparse.ArgumentParser(prog="mrrecon gui", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="raw data (ISMRMRD, twix), images or Pulseq .seq to open")
    parser.add_argument("--screenshot", metavar="PNG", help="save the window once reconstructed")
    parser.add_argument("--quit", action="store_true", help="exit after loading (and the screenshot)")
    parser.add_argument("--sample", action="store_true", help="open the R = 2 phantom if no file is given")
    args = parser.parse_args(argv)
    return launch(args.files, screenshot=args.screenshot, quit=args.quit, sample=args.sample)


if __name__ == "__main__":
    sys.exit(main())
