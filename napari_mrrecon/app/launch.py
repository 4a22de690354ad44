"""``mrrecon gui``: napari with the plugin's docks, files loaded and reconstructed.

:func:`launch` opens a viewer, docks "MR Reconstruction" and "Metadata", opens the files
(or the R = 2 phantom sample), reconstructs every raw dataset with the dock's current
settings (waiting for each worker), optionally saves a screenshot of the whole window and
either exits or hands over to the napari event loop. When a Pulseq ``.seq`` is among the
files, or raw data is non-Cartesian, the "Trajectory" dock (and for a ``.seq`` the
"Sequence" dock) is opened as well. Also runnable as
``python -m napari_mrrecon.app.launch FILE… [--screenshot PNG] [--quit] [--sample]``.

With ``explorer=True`` (``mrrecon gui --explorer``) the "K-space Explorer" dock opens
instead (files are opened but not reconstructed, so a raw dataset can be its source), is set
from ``explorer_settings`` (``--explorer-settings '{"acceleration": 4}'``, see
:meth:`~napari_mrrecon.docks.explorer.widget.ExplorerWidget.set_settings`) and the screenshot is
taken once its views (and an acquisition movie, if asked for) are computed: this is how the
pictures of ``docs/teaching.md`` are made (``scripts/make_teaching_screenshots.sh``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from napari_mrrecon.io.open import PLUGIN

if TYPE_CHECKING:
    import napari.viewer

    from napari_mrrecon._qt.run_dock import EngineRunWidget
    from napari_mrrecon.docks.explorer.widget import ExplorerWidget

__all__ = [
    "EXPLORER_WAIT_S",
    "PLUGIN",
    "SAMPLE",
    "launch",
    "main",
    "parse_explorer_settings",
    "populate",
    "populate_explorer",
]

#: Sample opened when no file is given and ``sample=True``.
SAMPLE = "phantom_R2"
_WINDOW_SIZE = (1500, 950)
#: Longest wait for the explorer's views (and movie) before a screenshot (s).
EXPLORER_WAIT_S = 300.0


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
    from napari_mrrecon.layers.views import viewer_grid

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
        Files to open; raw data (ISMRMRD, twix) is reconstructed with the method the data
        suggest (:meth:`~napari_mrrecon.docks.recon.widget.ReconWidget.choose_method_from_data`),
        Pulseq ``.seq`` files are shown as trajectories.
    sample
        With no ``files``, open the R = 2 phantom sample.

    Returns
    -------
    list of str
        The error messages shown meanwhile (also printed to stderr).
    """
    from napari_mrrecon.model.entries import RawDataset, SequenceDataset, layers_with

    with _collect_errors() as errors:
        _, recon = viewer.window.add_plugin_dock_widget(PLUGIN, "MR Reconstruction")
        viewer.window.add_plugin_dock_widget(PLUGIN, "Metadata")
        _open_files(viewer, files, errors)
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
            recon.choose_method_from_data()  # e.g. SENSE for the R = 2 sample, not an aliased image
            _wait_for_run(recon)
    if len(viewer.layers) > 1:
        _grid(viewer).enabled = True  # k-space and images side by side
    viewer.reset_view()
    return errors


@contextmanager
def _collect_errors() -> Iterator[list[str]]:
    """Collect (and print to stderr) the error notifications shown inside the block."""
    from napari.utils.notifications import NotificationSeverity, notification_manager

    errors: list[str] = []

    def echo(notification: Any) -> None:
        if notification.severity >= NotificationSeverity.ERROR:
            _echo_error(errors, str(notification.message))

    notification_manager.notification_ready.connect(echo)
    try:
        yield errors
    finally:
        notification_manager.notification_ready.disconnect(echo)


def _open_files(viewer: napari.viewer.Viewer, files: Sequence[str], errors: list[str]) -> None:
    """Open ``files``, with the plugin's readers when they claim a file."""
    from napari_mrrecon.io.open import claims, open_with_plugin

    for path in files:
        try:
            # napari's builtin reader also matches *.h5: ours when it claims the file
            if claims(path):
                open_with_plugin(viewer, path)
            else:
                viewer.open(path)
        except Exception as exc:  # napari's own reader errors
            _echo_error(errors, f"cannot open {path}: {exc}")


def _wait_idle(widget: ExplorerWidget, timeout_s: float = EXPLORER_WAIT_S) -> bool:
    """Process Qt events until the explorer has no computation running or waiting."""
    import time

    from qtpy.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + timeout_s
    _settle(2)  # the first update is queued with a zero timer
    while widget.busy and time.monotonic() < deadline:
        loop = QEventLoop()
        QTimer.singleShot(20, loop.quit)
        loop.exec()
    return not widget.busy


def populate_explorer(
    viewer: napari.viewer.Viewer,
    files: Sequence[str],
    settings: Mapping[str, Any] | None = None,
) -> list[str]:
    """Open ``files`` (not reconstructed), dock the K-space Explorer, set it and wait for its views.

    Parameters
    ----------
    viewer
        The viewer to fill.
    files
        Files to open (a raw dataset can then be the explorer's ``source``).
    settings
        Explorer settings (:meth:`~napari_mrrecon.docks.explorer.widget.ExplorerWidget.set_settings`);
        ``acquisition_movie``, ``visible``, ``select``, ``movie_frame`` and ``group`` are
        applied once the views are shown.

    Returns
    -------
    list of str
        The error messages shown meanwhile (also printed to stderr).
    """
    settings = dict(settings or {})
    with _collect_errors() as errors:
        _open_files(viewer, files, errors)
        _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "K-space Explorer")
        widget.set_settings(settings)
        if not _wait_idle(widget):
            _echo_error(errors, f"the explorer did not finish within {EXPLORER_WAIT_S:.0f} s")
        if "acquisition_movie" in settings:
            widget.make_acquisition_movie()
            _wait_idle(widget)
        if "visible" in settings:
            widget.layers.set_visible(settings["visible"])
        if "select" in settings:
            widget.select_view(settings["select"])
        if "movie_frame" in settings:
            widget.show_frame(settings["movie_frame"])
        if "group" in settings:
            widget.show_group(settings["group"])
    viewer.reset_view()
    return errors


def launch(
    files: Sequence[str],
    *,
    screenshot: str | None = None,
    quit: bool = False,
    sample: bool = False,
    explorer: bool = False,
    explorer_settings: Mapping[str, Any] | None = None,
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
    explorer
        Open the "K-space Explorer" dock instead of reconstructing (see :func:`populate_explorer`).
    explorer_settings
        Settings of the explorer (implies ``explorer``).

    Returns
    -------
    int
        0 on success, 2 if a file could not be opened or a reconstruction failed
        (the messages are shown as notifications and printed to stderr).
    """
    import napari

    viewer = napari.Viewer(title="napari-mrrecon")
    viewer.window.resize(*_WINDOW_SIZE)
    if explorer or explorer_settings is not None:
        errors = populate_explorer(viewer, files, explorer_settings)
    else:
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
    """Command-line entry: ``python -m napari_mrrecon.app.launch``."""
    parser = argparse.ArgumentParser(prog="mrrecon gui", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="raw data (ISMRMRD, twix), images or Pulseq .seq to open")
    parser.add_argument("--screenshot", metavar="PNG", help="save the window once reconstructed")
    parser.add_argument("--quit", action="store_true", help="exit after loading (and the screenshot)")
    parser.add_argument("--sample", action="store_true", help="open the R = 2 phantom if no file is given")
    parser.add_argument("--explorer", action="store_true", help="open the K-space Explorer (teaching)")
    parser.add_argument(
        "--explorer-settings", metavar="JSON", help="explorer settings, e.g. '{\"acceleration\": 4}'"
    )
    args = parser.parse_args(argv)
    try:
        settings = parse_explorer_settings(args.explorer_settings)
    except ValueError as exc:
        parser.error(str(exc))
    return launch(
        args.files,
        screenshot=args.screenshot,
        quit=args.quit,
        sample=args.sample,
        explorer=args.explorer,
        explorer_settings=settings,
    )


def parse_explorer_settings(text: str | None) -> dict[str, Any] | None:
    """The ``--explorer-settings`` JSON object as a dict (None when not given).

    Raises
    ------
    ValueError
        Not JSON, or not a JSON object.
    """
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--explorer-settings is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise ValueError("--explorer-settings must be a JSON object, e.g. '{\"acceleration\": 4}'")
    return value


if __name__ == "__main__":
    sys.exit(main())
