"""The "Metadata" dock: searchable header tree, acquisition table with decoded flag names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import recon_engine
from tests.plugin._helpers import PLUGIN


def _visible_names(tree: Any) -> set[str]:
    names: set[str] = set()

    def walk(item: Any) -> None:
        if item.isHidden():
            return
        names.add(item.text(0))
        for i in range(item.childCount()):
            walk(item.child(i))

    for i in range(tree.topLevelItemCount()):
        walk(tree.topLevelItem(i))
    return names


def _column(model: Any, name: str) -> list[str]:
    from napari_mrrecon._qt.acquisition_table import COLUMNS

    col = COLUMNS.index(name)
    return [model.data(model.index(r, col)) for r in range(model.rowCount())]


def test_header_tree_and_search(viewer: Any, metadata_widget: Any, raw_path: Path) -> None:
    assert metadata_widget.tree.topLevelItemCount() == 0
    viewer.open(str(raw_path), plugin=PLUGIN)
    tree = metadata_widget.tree
    assert [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())] == [
        "summary",
        "ismrmrdHeader",
    ]
    everything = _visible_names(tree)
    assert {"encoding", "matrixSize", "systemFieldStrength_T", "coils"} <= everything

    metadata_widget.search.setText("MATRIXsize")  # case-insensitive
    shown = _visible_names(tree)
    assert "matrixSize" in shown
    assert {"x", "y", "z"} <= shown  # the subtree of a match
    assert "ismrmrdHeader" in shown  # ancestors of a match
    assert "systemFieldStrength_T" not in shown

    metadata_widget.search.setText("napari-mrrecon sample")  # values are searched too
    assert "protocolName" in _visible_names(tree)
    metadata_widget.search.clear()
    assert _visible_names(tree) == everything


def test_acquisition_table_decodes_flags(viewer: Any, metadata_widget: Any, raw_path: Path) -> None:
    viewer.open(str(raw_path), plugin=PLUGIN)
    table = recon_engine.read(raw_path).acquisitions
    model = metadata_widget.acquisitions
    assert model.rowCount() == len(table)
    flags = _column(model, "flags")
    assert any("ACQ_IS_NOISE_MEASUREMENT" in f for f in flags)
    assert any("ACQ_IS_PARALLEL_CALIBRATION" in f for f in flags)

    noise_entry = next(
        i
        for i in range(metadata_widget.flag_filter.count())
        if metadata_widget.flag_filter.itemData(i) == "ACQ_IS_NOISE_MEASUREMENT"
    )
    metadata_widget.flag_filter.setCurrentIndex(noise_entry)
    n_noise = table.flag_counts()["ACQ_IS_NOISE_MEASUREMENT"]
    assert model.rowCount() == n_noise
    assert all("ACQ_IS_NOISE_MEASUREMENT" in f for f in _column(model, "flags"))
    viewer.add_image(np.zeros((4, 4), np.float32))  # another layer: the filter stays
    assert model.rowCount() == n_noise


def test_inspect_file_and_bad_file(
    metadata_widget: Any, raw_path: Path, plugin_files: dict[str, Path], errors: list[str]
) -> None:
    assert metadata_widget.show_file(raw_path)  # not loaded into the viewer
    assert metadata_widget.acquisitions.rowCount() > 0
    assert not metadata_widget.show_file(plugin_files["text"])
    assert errors and "notes.h5" in errors[-1]
    assert metadata_widget.acquisitions.rowCount() > 0  # the previous file stays shown
