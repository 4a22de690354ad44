"""The "qMRI Fitting" dock: fit through the dock, times table, voxel curve, ROI statistics, errors, Stop.

The series is the tissue phantom (48², 8 TIs 50–4000 ms) through the magnitude inversion-recovery
equation with Rician noise at SNR 200 (:mod:`recon_engine.simulate.qmri_series`), so T1 is known:
830 ms in white matter, 1330 ms in grey matter.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Generator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from napari_mrrecon.layers.preview import PREVIEW_LAYER
from napari_mrrecon.layers.qmri import series_layer
from napari_mrrecon.model.qmri import MapsEntry, SeriesEntry, maps_of
from recon_engine.progress import ProgressEvent
from recon_engine.simulate.phantom import TISSUES
from recon_engine.simulate.qmri_series import SyntheticSeries, inversion_recovery_series
from tests.plugin._helpers import PLUGIN, run_and_wait

TIMEOUT_MS = 30_000
N = 48
#: Largest relative error of the median T1 or T2 in a tissue (SNR 200, 8 TIs or TEs).
MEDIAN_TOLERANCE = 0.02
WM, GM = list(TISSUES).index("white_matter"), list(TISSUES).index("grey_matter")


@pytest.fixture(scope="module")
def ir() -> SyntheticSeries:
    return inversion_recovery_series(N, snr=200.0, seed=3)


@pytest.fixture
def qmri(viewer: Any) -> Any:
    """The dock, created through the manifest, on the CPU."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "qMRI Fitting")
    widget.device.setCurrentText("cpu")
    return widget


def _add_series(viewer: Any, sim: SyntheticSeries, name: str = "ir", *, times: bool = True) -> Any:
    from recon_engine.qmri import QMRISeries

    series = QMRISeries(
        data=sim.data,
        times=sim.times if times else None,
        flip_angles=None,
        tr=None,
        affine=None,
        source="test",
    )
    data, kwargs, _ = series_layer(series, name, times_label="TI")
    return viewer.add_image(data, **kwargs)


def _fitted(qtbot: Any, viewer: Any, qmri: Any, ir: SyntheticSeries) -> Any:
    _add_series(viewer, ir)
    run_and_wait(qtbot, qmri)
    assert qmri.last_error is None, qmri.last_error
    return viewer.layers["T1 [ms]"]


def test_fit_through_dock_t1_within_2_percent(
    qtbot: Any, viewer: Any, qmri: Any, ir: SyntheticSeries
) -> None:
    """Median T1 in white and grey matter within 2 % of 830 / 1330 ms; layers, units, colormaps."""
    t1_layer = _fitted(qtbot, viewer, qmri, ir)
    assert t1_layer.metadata["unit"] == "ms"
    assert t1_layer.colormap.name == "magma"
    np.testing.assert_allclose(t1_layer.contrast_limits, (0.0, 3000.0))
    assert t1_layer.data.shape == (N, N)
    labels = ir.truth["labels"]
    for tissue, truth in ((WM, 830.0), (GM, 1330.0)):
        median = float(np.nanmedian(t1_layer.data[labels == tissue]))
        assert abs(median / truth - 1) < MEDIAN_TOLERANCE, (tissue, median)
    r2 = viewer.layers["R²"]
    assert r2.colormap.name == "viridis"
    np.testing.assert_allclose(r2.contrast_limits, (0.0, 1.0))
    assert float(np.nanmedian(r2.data[labels == WM])) > 0.99
    entry = maps_of(t1_layer)
    assert isinstance(entry, MapsEntry)
    assert entry.result is qmri.result  # the float master, for export and the voxel curve
    np.testing.assert_array_equal(t1_layer.data, qmri.result.maps["t1"])
    assert viewer.layers.selection.active.name == "T1 [ms]"
    assert PREVIEW_LAYER not in viewer.layers
    assert np.isnan(t1_layer.data[0, 0])  # background: masked by the 5 % threshold


def test_times_prefilled_from_metadata_and_editable(viewer: Any, qmri: Any, ir: SyntheticSeries) -> None:
    layer = _add_series(viewer, ir)
    assert qmri.series_choice.currentText() == layer.name
    form = qmri.model_form
    np.testing.assert_array_equal(form.values(), ir.times)
    assert form.times_table.horizontalHeaderItem(0).text() == "TI [ms]"
    form.model.setCurrentText("t2")
    assert form.times_table.horizontalHeaderItem(0).text() == "TE [ms]"
    form.model.setCurrentText("ir")
    assert form.gather()["signed"] is None  # IR: detect signed/magnitude data
    form.options["signed"].setCurrentText("yes")
    assert form.gather()["signed"] is True
    form.times_table.item(2, 0).setText("333")
    assert form.gather()["times"][2] == 333.0
    form.times_table.item(2, 0).setText("")
    with pytest.raises(ValueError, match="TI of image 3 is empty"):
        form.gather()
    _add_series(viewer, ir, "no times", times=False)
    assert form.times_table.rowCount() == len(ir.times)
    assert form.values() is None  # nothing known: empty rows to fill in


def test_voxel_click_plots_model_curve(qtbot: Any, viewer: Any, qmri: Any, ir: SyntheticSeries) -> None:
    """The curve is |M0 − b·exp(−TI/T1)| at the voxel's fitted maps (rel. 1e-4); data = the series."""
    t1_layer = _fitted(qtbot, viewer, qmri, ir)
    y, x = np.argwhere(ir.truth["labels"] == WM)[0]
    event = SimpleNamespace(position=(float(y), float(x)), type="mouse_press", button=1)
    for callback in list(viewer.mouse_drag_callbacks):  # the dock's callback is registered on the viewer
        callback(viewer, event)
    shown = qmri.plot.shown
    assert shown is not None
    assert shown.index == (y, x)
    np.testing.assert_allclose(shown.times, ir.times)
    np.testing.assert_allclose(np.abs(shown.observed), ir.data[:, y, x], rtol=1e-5)
    maps = qmri.result.maps
    assert float(t1_layer.data[y, x]) == pytest.approx(float(maps["t1"][y, x]))
    t = shown.curve_times
    expected = np.abs(maps["m0"][y, x] - maps["b"][y, x] * np.exp(-t / maps["t1"][y, x]))
    np.testing.assert_allclose(shown.curve, expected, rtol=1e-4, atol=1e-6)
    assert shown.xlabel == "TI [ms]"
    assert "T1 =" in shown.title


def test_roi_statistics_equal_numpy_and_csv(
    qtbot: Any, viewer: Any, qmri: Any, ir: SyntheticSeries, tmp_path: Path
) -> None:
    """Labels ROI: mean/SD/median/N equal numpy's (rel. 1e-5); Shapes rectangle = its voxels; CSV."""
    _fitted(qtbot, viewer, qmri, ir)
    labels = np.zeros((N, N), dtype=np.int32)
    labels[ir.truth["labels"] == WM] = 1
    labels[ir.truth["labels"] == GM] = 2
    viewer.add_labels(labels, name="tissues")
    qmri.roi.roi_choice.setCurrentText("tissues")
    rows = qmri.compute_statistics()
    maps = qmri.result.maps
    assert len(rows) == 2 * len(maps)
    assert [r["map"] for r in rows[:2]] == ["t1", "m0"]  # the main map first
    assert qmri.roi.table.rowCount() == len(rows)
    for row in rows:
        values = maps[row["map"]][labels == row["label"]]
        values = values[np.isfinite(values)]
        assert row["n"] == values.size
        assert row["mean"] == pytest.approx(values.mean(), rel=1e-5)
        assert row["sd"] == pytest.approx(values.std(ddof=1), rel=1e-4)
        assert row["median"] == pytest.approx(np.median(values), rel=1e-5)
    wm_t1 = next(r for r in rows if r["label"] == 1 and r["map"] == "t1")
    assert abs(wm_t1["median"] / 830.0 - 1) < MEDIAN_TOLERANCE

    viewer.add_shapes(
        [np.array([[10, 12], [10, 20], [16, 20], [16, 12]])], shape_type="rectangle", name="box"
    )
    qmri.roi.roi_choice.setCurrentText("box")
    rows = qmri.compute_statistics()
    box = maps["t1"][10:17, 12:21]
    t1_row = next(r for r in rows if r["map"] == "t1")
    assert t1_row["label"] == 1
    assert t1_row["n"] == int(np.isfinite(box).sum())
    assert t1_row["mean"] == pytest.approx(float(np.nanmean(box)), rel=1e-5)

    layer = viewer.layers["box"]
    layer.data = [*layer.data, np.array([[30, 10], [30, 14], [34, 14], [34, 10]])]  # a second region
    qtbot.waitUntil(lambda: {r["label"] for r in qmri.roi.rows} == {1, 2}, timeout=5000)  # follows edits
    rows = qmri.roi.rows

    written = qmri.export_statistics(tmp_path / "roi.csv")
    assert written == tmp_path / "roi.csv"
    with written.open() as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["label", "map", "unit", "mean", "sd", "median", "n"]
    assert len(table) == len(rows)
    t1_csv = next(r for r in table if r["map"] == "t1")
    assert t1_csv["unit"] == "ms"
    assert float(t1_csv["mean"]) == pytest.approx(t1_row["mean"], rel=1e-6)
    assert int(t1_csv["n"]) == t1_row["n"]
    assert [p.name for p in tmp_path.iterdir()] == ["roi.csv"]  # atomic: no temporary left


def test_mismatched_times_notify_and_dock_stays_usable(
    qtbot: Any, viewer: Any, qmri: Any, ir: SyntheticSeries, errors: list[str]
) -> None:
    _add_series(viewer, ir)
    qmri.model_form.fill.setText("100, 200, 300")
    qmri.model_form.fill.returnPressed.emit()
    assert qmri.model_form.times_table.rowCount() == 3
    run_and_wait(qtbot, qmri)
    assert qmri.last_error is not None
    assert any("3 TI times (ms) were given for 8 images" in m for m in errors), errors
    assert "T1 [ms]" not in viewer.layers
    qmri.model_form.fill.setText("-5, 100, 200, 300, 400, 500, 600, 700")
    qmri.model_form.fill.returnPressed.emit()
    run_and_wait(qtbot, qmri)
    assert "must be positive" in errors[-1]
    qmri.model_form.fill.setText(", ".join(str(t) for t in ir.times))
    qmri.model_form.fill.returnPressed.emit()
    run_and_wait(qtbot, qmri)
    assert qmri.last_error is None
    assert "T1 [ms]" in viewer.layers


def test_unknown_model_and_no_series_notify(viewer: Any, qmri: Any, errors: list[str]) -> None:
    assert qmri.run() is None
    assert "No series" in errors[-1]
    from recon_engine.errors import ParameterError
    from recon_engine.qmri import model_info

    with pytest.raises(ParameterError, match="ir"):
        model_info("t7")


def _slow_fit(series: Any, model: str, **options: Any) -> Generator[ProgressEvent, None, Any]:
    """A fit that would take ~10 s, yielding a preview every 10 ms."""
    total = 1000
    for i in range(total):
        time.sleep(0.01)
        yield ProgressEvent("fit", i + 1, total, np.full((8, 8), 100.0 * i, np.float32))
    raise AssertionError("the fit was not stopped")


def test_stop_ends_run(
    qtbot: Any, viewer: Any, qmri: Any, ir: SyntheticSeries, monkeypatch: pytest.MonkeyPatch
) -> None:
    import recon_engine.qmri

    monkeypatch.setattr(recon_engine.qmri, "fit_steps", _slow_fit)
    _add_series(viewer, ir)
    qmri.run()
    qtbot.waitUntil(lambda: PREVIEW_LAYER in viewer.layers, timeout=5000)
    preview = viewer.layers[PREVIEW_LAYER]
    assert preview.colormap.name == "magma"  # the T1 map's look while it converges
    with qtbot.waitSignal(qmri.run_finished, timeout=5000):
        qmri.stop()
    assert qmri.status.text() == "Stopped."
    assert qmri.progress.value() < 1000
    assert qmri.run_button.isEnabled()
    assert "T1 [ms]" not in viewer.layers


def test_open_series_npy_and_save_maps(
    qtbot: Any, viewer: Any, qmri: Any, ir: SyntheticSeries, tmp_path: Path, errors: list[str]
) -> None:
    np.save(tmp_path / "series.npy", ir.data)
    layer = qmri.open_series(tmp_path / "series.npy")
    assert layer is not None
    assert isinstance(layer.metadata["mrrecon"], SeriesEntry)
    assert qmri.series_choice.currentText() == "series"
    qmri.model_form.fill.setText(", ".join(f"{v:g}" for v in ir.times))
    qmri.model_form.fill.returnPressed.emit()
    run_and_wait(qtbot, qmri)
    np.testing.assert_array_equal(qmri.model_form.values(), ir.times)  # typed times survive new layers
    (written,) = qmri.save_maps(tmp_path / "maps.npz")
    with np.load(written) as saved:
        np.testing.assert_array_equal(saved["t1"], qmri.result.maps["t1"])
        np.testing.assert_allclose(saved["times"], ir.times)
    (tmp_path / "broken.npy").write_bytes(b"not numpy")
    assert qmri.open_series(tmp_path / "broken.npy") is None
    assert errors and "Open series" in errors[-1]


def test_mask_layer_limits_the_fit(qtbot: Any, viewer: Any, qmri: Any, ir: SyntheticSeries) -> None:
    _add_series(viewer, ir)
    mask = np.zeros((N, N), dtype=np.int32)
    mask[20:30, 10:40] = 1
    viewer.add_labels(mask, name="mask")
    qmri.mask_layer.setCurrentText("mask")
    run_and_wait(qtbot, qmri)
    t1 = viewer.layers["T1 [ms]"].data
    assert np.all(np.isnan(t1[mask == 0]))
    assert np.isfinite(t1[(mask == 1) & (ir.truth["labels"] == WM)]).all()


def test_sample_series_opens_with_times(viewer: Any, qmri: Any) -> None:
    (layer,) = viewer.open_sample(PLUGIN, "qmri_ir")
    assert isinstance(layer.metadata["mrrecon"], SeriesEntry)
    assert layer.data.shape == (8, 128, 128)
    assert qmri.series_choice.currentText() == layer.name
    assert qmri.model_form.values()[0] == 50.0


def test_t2_fit_replaces_t1_maps(qtbot: Any, viewer: Any, qmri: Any, ir: SyntheticSeries) -> None:
    """After an IR fit, a T2 fit: "T2 [ms]" (inferno, 0–300 ms), WM median within 2 % of 80 ms; no T1 maps."""
    from recon_engine.simulate.qmri_series import t2_decay_series

    _fitted(qtbot, viewer, qmri, ir)
    se = t2_decay_series(N, snr=200.0, seed=4)
    _add_series(viewer, se, "se")
    assert qmri.series_choice.currentText() == "se"
    qmri.model_form.model.setCurrentText("t2")
    np.testing.assert_array_equal(qmri.model_form.values(), se.times)
    run_and_wait(qtbot, qmri)
    t2 = viewer.layers["T2 [ms]"]
    assert t2.colormap.name == "inferno"
    np.testing.assert_allclose(t2.contrast_limits, (0.0, 300.0))
    assert t2.metadata["unit"] == "ms"
    median = float(np.nanmedian(t2.data[se.truth["labels"] == WM]))
    assert abs(median / 80.0 - 1) < MEDIAN_TOLERANCE, median
    assert "T1 [ms]" not in viewer.layers
    assert "b [a.u.]" not in viewer.layers
    assert {"M0 [a.u.]", "R²", "residual [a.u.]"} <= {la.name for la in viewer.layers}


def test_3d_series_maps_and_click(qtbot: Any, viewer: Any, qmri: Any, ir: SyntheticSeries) -> None:
    """A (n, z, y, x) series gives (z, y, x) maps; a click at (TI, z, y, x) plots voxel (z, y, x)."""
    from recon_engine.qmri import QMRISeries

    volume = np.stack([ir.data, ir.data[:, ::-1]], axis=1)  # (n, 2, y, x): second slice flipped
    series = QMRISeries(data=volume, times=ir.times, source="test 3D")
    data, kwargs, _ = series_layer(series, "volume", times_label="TI")
    viewer.add_image(data, **kwargs)
    run_and_wait(qtbot, qmri)
    t1 = viewer.layers["T1 [ms]"]
    assert t1.data.shape == (2, N, N)
    assert tuple(t1.axis_labels) == ("z", "y", "x")
    np.testing.assert_allclose(t1.data[1], t1.data[0, ::-1], rtol=1e-3)  # same fit, flipped
    y, x = np.argwhere(ir.truth["labels"] == GM)[0]
    viewer.layers.selection.active = t1
    qmri._on_click(viewer, SimpleNamespace(position=(3.0, 1.0, float(N - 1 - y), float(x))))
    assert qmri.plot.shown is not None
    assert qmri.plot.shown.index == (1, N - 1 - y, x)
    np.testing.assert_allclose(np.abs(qmri.plot.shown.observed), ir.data[:, y, x], rtol=1e-5)


def test_vfa_flip_angles_tr_and_b1_map(qtbot: Any, viewer: Any, qmri: Any) -> None:
    """VFA (DESPOT1, TR 15 ms, α 2–20°, B1 0.9 from a layer): the table holds flip angles, TR goes
    to the model, and the WM T1 median is within 2 % of 830 ms (noise-free data, SNR ∞)."""
    from recon_engine.qmri import QMRISeries
    from recon_engine.simulate.phantom import tissue_maps

    truth = tissue_maps(N)
    angles = np.array([2.0, 5.0, 10.0, 15.0, 20.0])
    tr, b1 = 15.0, 0.9
    e1 = np.exp(-tr / np.where(truth["t1_ms"] > 0, truth["t1_ms"], 1.0))[None]
    a = np.deg2rad(b1 * angles)[:, None, None]
    data = (truth["pd"][None] * np.sin(a) * (1 - e1) / (1 - e1 * np.cos(a))).astype(np.float32)
    series = QMRISeries(data=data, flip_angles=angles, tr=tr, source="test VFA")
    layer_data, kwargs, _ = series_layer(series, "vfa", times_label="flip angle")
    viewer.add_image(layer_data, **kwargs)
    viewer.add_image(np.full((N, N), b1, np.float32), name="B1 map")
    qmri.series_choice.setCurrentText("vfa")
    form = qmri.model_form
    form.model.setCurrentText("vfa")
    assert form.times_table.horizontalHeaderItem(0).text() == "flip angle [deg]"
    np.testing.assert_array_equal(form.values(), angles)  # flip angles, not times
    assert form.tr_edit.text() == "15"
    form.options["b1"].setCurrentText("B1 map")
    options = qmri.gather()
    assert options["tr"] == 15.0
    assert "times" not in options
    np.testing.assert_array_equal(options["flip_angles"], angles)
    assert options["b1"].shape == (N, N)
    run_and_wait(qtbot, qmri)
    assert qmri.last_error is None, qmri.last_error
    t1 = viewer.layers["T1 [ms]"].data
    median = float(np.nanmedian(t1[truth["labels"] == WM]))
    assert abs(median / 830.0 - 1) < MEDIAN_TOLERANCE, median


def test_roi_labels_map_shapes_onto_the_maps_grid() -> None:
    """Shapes drawn in world coordinates (mm) land on the right voxels of scaled maps; bad ROIs say why."""
    from napari.layers import Image, Labels, Shapes

    from napari_mrrecon.docks.qmri.roi import roi_labels

    maps = Image(np.zeros((20, 30), np.float32), scale=(2.0, 2.0), translate=(10.0, 0.0))
    box = Shapes([np.array([[14.0, 4.0], [14.0, 12.0], [22.0, 12.0], [22.0, 4.0]])], shape_type="rectangle")
    labels = roi_labels(box, maps)  # world y 14–22 mm → rows 2–6; x 4–12 mm → columns 2–6
    assert labels.shape == (20, 30)
    np.testing.assert_array_equal(np.argwhere(labels == 1).min(0), (2, 2))
    np.testing.assert_array_equal(np.argwhere(labels == 1).max(0), (6, 6))
    same_grid = Shapes([np.array([[2, 2], [2, 6], [6, 6], [6, 2]])], shape_type="rectangle", scale=(2, 2))
    same_grid.translate = (10.0, 0.0)
    np.testing.assert_array_equal(roi_labels(same_grid, maps), labels)
    with pytest.raises(ValueError, match=r"shape \(5, 5\)"):
        roi_labels(Labels(np.zeros((5, 5), np.int32), name="small"), maps)
    with pytest.raises(ValueError, match="neither a Shapes nor a Labels"):
        roi_labels(maps, maps)


def test_reconstruction_result_as_series(qtbot: Any, viewer: Any, qmri: Any, ir: SyntheticSeries) -> None:
    """A multi-contrast result of MR Reconstruction (complex master, contrast as 'other' axis) is a
    series: the dock lists it, fits it with typed TIs, and the maps match a fit of the same data."""
    import torch

    from napari_mrrecon.layers.views import image_layer
    from napari_mrrecon.model.entries import METADATA_KEY, ReconResult
    from recon_engine.data import ImageData
    from recon_engine.data.geometry import Geometry
    from recon_engine.qmri import fit

    phase = np.exp(1j * 0.3).astype(np.complex64)  # a constant phase: the fit sees the magnitude
    cplx = torch.from_numpy((ir.data * phase)[:, None, None])  # (contrast, coils=1, z=1, y, x)
    image = ImageData(
        data=cplx,
        geometry=Geometry(matrix=(N, N, 1), fov_mm=(2.0 * N, 2.0 * N, 5.0)),
        other_axes=("contrast",),
    )
    data, kwargs = image_layer(image, "ir recon")
    viewer.add_image(data, metadata={METADATA_KEY: ReconResult(image=image, name="ir")}, **kwargs)
    qmri.series_choice.setCurrentText("ir recon")
    assert qmri.series_choice.currentText() == "ir recon"
    assert qmri.model_form.times_table.rowCount() == len(ir.times)
    qmri.model_form.set_values(ir.times)
    run_and_wait(qtbot, qmri)
    assert qmri.last_error is None, qmri.last_error
    t1 = viewer.layers["T1 [ms]"]
    assert t1.data.shape == (N, N)  # the engine drops z = 1; napari aligns the trailing (y, x)
    np.testing.assert_allclose(t1.scale, (2.0, 2.0))  # over the recon layer (mm)
    expected = fit(np.abs(ir.data * phase), "ir", times=ir.times, device="cpu").maps["t1"]
    np.testing.assert_allclose(t1.data, expected, rtol=1e-3, equal_nan=True)


def test_mrf_schedule_options_and_frame_curve(qtbot: Any, viewer: Any, qmri: Any) -> None:
    """MRF (FISP, 40 frames, TR 12 ms, inversion 20 ms typed as an option): the dictionary match
    gives T1 within 2 % of 830/1330 ms; the voxel plot runs over the frames."""
    import torch

    from recon_engine.qmri import QMRISeries
    from recon_engine.qmri.epg import epg_fisp

    frames, tr = 40, 12.0
    angles = 10 + 50 * np.abs(np.sin(np.arange(frames) * np.pi / 20))
    t1, t2 = (
        torch.tensor([830.0, 1330.0], dtype=torch.float64),
        torch.tensor([80.0, 110.0], dtype=torch.float64),
    )
    signals = epg_fisp(t1, t2, flip_angles=torch.as_tensor(angles), tr=tr, inversion_time=20.0).numpy()
    data = np.zeros((frames, 8, 8), np.complex64)
    data[:, :, :4], data[:, :, 4:] = signals[0][:, None, None], signals[1][:, None, None]
    series = QMRISeries(data=data, flip_angles=angles, tr=tr, source="test MRF")
    layer_data, kwargs, _ = series_layer(series, "mrf", times_label="flip angle")
    viewer.add_image(layer_data, **kwargs)
    form = qmri.model_form
    form.model.setCurrentText("mrf")
    assert form.times_table.rowCount() == frames
    assert form.tr_edit.text() == "12"
    form.options["inversion_time"].setText("20")
    assert qmri.gather()["inversion_time"] == 20
    run_and_wait(qtbot, qmri)
    assert qmri.last_error is None, qmri.last_error
    t1_map = viewer.layers["T1 [ms]"].data
    for cols, truth in ((slice(0, 4), 830.0), (slice(4, 8), 1330.0)):
        assert abs(float(np.median(t1_map[:, cols])) / truth - 1) < MEDIAN_TOLERANCE
    curve = qmri.show_voxel((0, 0))
    assert curve is not None
    assert curve.xlabel == "frame"
    np.testing.assert_array_equal(curve.times, np.arange(frames))
    assert curve.curve.shape == curve.observed.shape == (frames,)
