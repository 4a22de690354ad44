"""Helpers shared by the plugin tests (defined once): the plugin's name, clicks, run-and-wait."""

from __future__ import annotations

from typing import Any

from napari_mrrecon.io.open import PLUGIN

__all__ = ["PLUGIN", "TIMEOUT_MS", "assert_same_image", "click", "run_and_wait"]

#: Longest wait for one dock run (ms): generous for a loaded 2-core CI machine under Xvfb.
TIMEOUT_MS = 60_000


def click(qtbot: Any, button: Any) -> None:
    """Left-click a Qt button."""
    from qtpy.QtCore import Qt

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def run_and_wait(
    qtbot: Any, dock: Any, *, by_click: bool = False, ok: bool = False, timeout_ms: int = TIMEOUT_MS
) -> None:
    """Start a run-dock's run (``run()``, or its Run button) and wait for ``run_finished``.

    Afterwards the dock is idle: Run enabled, Stop disabled, no deferred layer step pending
    (``run_finished`` comes after them). With ``ok`` the run must also have succeeded.
    """
    with qtbot.waitSignal(dock.run_finished, timeout=timeout_ms):
        if by_click:
            click(qtbot, dock.run_button)
        else:
            assert dock.run() is not None
    assert dock.run_button.isEnabled()
    assert not dock.stop_button.isEnabled()
    assert dock.steps_pending == 0
    if ok:
        assert dock.last_error is None, dock.last_error


def assert_same_image(actual: Any, expected: Any, rtol: float = 1e-4) -> None:
    """A dock's image equals a replay of the same engine call to ``rtol`` of the image's maximum.

    Float tolerance, not bit equality: the dock's worker thread and the test's thread may split
    reductions differently (the bit-for-bit replay promise is an engine test).
    """
    import numpy as np

    expected = np.asarray(expected)
    np.testing.assert_allclose(
        np.asarray(actual), expected, rtol=0, atol=rtol * float(np.abs(expected).max())
    )
