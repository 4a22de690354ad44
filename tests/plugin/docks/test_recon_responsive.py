"""The MR Reconstruction dock keeps the GUI responsive: layers reused, frames batched.

The 50 ms target is the benchmark's (``python -m napari_mrrecon.app.bench_gui`` on the R = 4
sample); these tests check the mechanisms behind it on the R = 2 sample with the fake
iterative method, and the probe with a generous bound for a loaded CI machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import recon_engine
from napari_mrrecon.app.bench_gui import StallProbe
from napari_mrrecon.docks.recon.plot import MetricsPlot, grown_limits
from napari_mrrecon.layers.preview import PREVIEW_LAYER, preview_limits
from napari_mrrecon.model.entries import result_of
from tests.plugin._helpers import run_and_wait

RESULT = "phantom_R2 recon"
MAPS = ("phantom_R2 coil maps", "phantom_R2 g-factor")
#: Longest main-thread stall allowed in the test of a re-run (s): generous, for a loaded
#: 2-core CI machine under Xvfb/llvmpipe; the benchmark checks the 50 ms target.
STALL_BOUND_S = 0.5


def test_second_run_reuses_every_layer(qtbot: Any, viewer: Any, dock: Any) -> None:
    """Run twice (λ = 0.25, then 1.0): the second run adds and removes no layer.

    The same layer objects show the new result: the magnitude equals |direct| / (1 + λ)
    to float32 precision (rtol 1e-5), the g-factor layer 1 + λ exactly.
    """
    dock.options.iterations.value = 40
    dock.options.regularization_weight.value = 0.25
    run_and_wait(qtbot, dock, ok=True)
    names = (RESULT, PREVIEW_LAYER, *MAPS)
    first = {name: viewer.layers[name] for name in names}
    ids = {name: layer.unique_id for name, layer in first.items()}  # the viewer proxy wraps layers anew
    assert not viewer.layers[PREVIEW_LAYER].visible  # hidden at the end, kept for the next run
    assert [viewer.layers[m].visible for m in MAPS] == [False, False]  # added hidden: the recon stays in view
    assert viewer.layers.selection.active.name == RESULT

    changes: list[str] = []
    viewer.layers.events.inserted.connect(lambda e: changes.append(f"+{e.value.name}"))
    viewer.layers.events.removed.connect(lambda e: changes.append(f"-{e.value.name}"))
    on_top: list[bool] = []
    shown_before = dock.previews_shown
    preview = first[PREVIEW_LAYER]
    preview.events.visible.connect(
        lambda e: (
            on_top.append(viewer.layers.index(preview) == len(viewer.layers) - 1) if preview.visible else None
        )
    )
    dock.options.regularization_weight.value = 1.0
    run_and_wait(qtbot, dock, ok=True)

    assert changes == []
    assert {name: viewer.layers[name].unique_id for name in names} == ids
    assert dock.previews_shown > shown_before
    assert on_top and all(on_top)  # the reused preview came back above the earlier result
    direct = recon_engine.reconstruct(dock.dataset_choice.dataset().kspace, device="cpu")
    np.testing.assert_allclose(first[RESULT].data, np.abs(direct.numpy()[0]) / 2.0, rtol=1e-5, atol=1e-7)
    entry = result_of(first[RESULT])
    assert entry is not None
    np.testing.assert_allclose(entry.image.numpy(), direct.numpy() / 2.0, rtol=1e-5)
    np.testing.assert_array_equal(first[MAPS[1]].data, np.full_like(first[MAPS[1]].data, 2.0))
    top = float(first[RESULT].data.max())
    np.testing.assert_allclose(first[RESULT].contrast_limits, (0.0, top), rtol=1e-6)


@pytest.mark.perf
def test_stall_probe_bounds_a_rerun(qtbot: Any, viewer: Any, dock: Any) -> None:
    """A re-run of 300 fake iterations (~0.6 s) never blocks the main thread for ≥ 0.5 s.

    The probe ticks every 5 ms throughout; the run shows several previews (≤ 10 per second).
    """
    dock.options.iterations.value = 300
    run_and_wait(qtbot, dock, ok=True)  # the first run adds the layers (each add takes 0.1–0.3 s in napari)
    probe = StallProbe()
    shown = dock.previews_shown
    probe.start()
    run_and_wait(qtbot, dock, ok=True)
    stall = probe.stop()
    assert probe.ticks > 20  # the probe ran during the run
    assert dock.previews_shown - shown >= 2
    assert stall < STALL_BOUND_S, probe.gaps


def test_deferred_steps_run_one_per_turn_in_order(qtbot: Any, dock: Any) -> None:
    """``defer``: steps run in order, one per event-loop turn; a new run drops the old ones."""
    order: list[int] = []
    dock.defer(lambda: order.append(1))
    dock.defer(lambda: order.append(2))
    assert order == [] and dock.steps_pending == 2
    qtbot.waitUntil(lambda: order == [1, 2], timeout=2000)
    dock.defer(lambda: order.append(3))
    dock.options.iterations.value = 2
    run_and_wait(qtbot, dock, ok=True)  # starting a run supersedes the pending step
    assert order == [1, 2]


def test_preview_limits() -> None:
    """Contrast limits over the finite values; a flat or empty preview gets a unit span."""
    assert preview_limits(np.array([[np.nan, 1.0], [2.0, np.inf]], np.float32)) == (1.0, 2.0)
    assert preview_limits(np.full((4, 4), 3.0, np.float32)) == (3.0, 4.0)
    assert preview_limits(np.zeros((0, 4), np.float32)) == (0.0, 1.0)


def test_grown_limits() -> None:
    """Limits only grow: log axes to whole decades (doubling the decades shown), linear by half a span."""
    assert grown_limits(None, 0.05, 0.9, log=True) == pytest.approx((0.01, 1.0))
    assert grown_limits((0.01, 1.0), 0.02, 0.5, log=True) == (0.01, 1.0)  # inside: unchanged
    assert grown_limits((0.01, 1.0), 0.005, 0.5, log=True) == pytest.approx((1e-4, 1.0))
    assert grown_limits((0.01, 1.0), 1e-7, 0.5, log=True) == pytest.approx((1e-7, 1.0))
    assert grown_limits(None, 0.0, 10.0, log=False) == pytest.approx((-1.0, 11.0))
    assert grown_limits((-1.0, 11.0), 0.0, 12.0, log=False) == pytest.approx((-1.0, 18.0))


def test_metrics_plot_rerun_needs_no_full_draw(qtbot: Any) -> None:
    """A converging residual (0.5^i, 30 iterations) costs ≤ 6 full draws; the same run again none."""
    plot = MetricsPlot()
    qtbot.addWidget(plot)
    plot.resize(400, 220)
    plot.show()
    qtbot.waitExposed(plot)

    def one_run() -> None:
        plot.clear()
        for i in range(1, 31):
            plot.add(i, {"residual": 0.5**i, "objective": 1.0 + 0.5**i}, total=30)
            plot.redraw()
            qtbot.wait(1)

    before = plot.full_draws
    one_run()
    first = plot.full_draws - before
    assert 1 <= first <= 6
    one_run()
    assert plot.full_draws - before == first
    its, values = plot.history["residual"]
    assert its == list(range(1, 31))
    assert values[-1] == pytest.approx(0.5**30)
    bottom, top = plot.axes["residual"].get_ylim()
    assert bottom <= 0.5**30 and top >= 0.5
