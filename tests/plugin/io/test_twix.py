"""Siemens twix (.dat): reader (k-space layer, broken files → notification) and protocol tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from napari_mrrecon.docks.metadata import TWIX_ITEM
from napari_mrrecon.io.twix import get_twix_reader, read_twix_layers
from napari_mrrecon.model.entries import raw_of
from tests.conftest import shared_data
from tests.plugin._helpers import PLUGIN
from tests.plugin.conftest import SE_DAT, SE_PAIR


def _visible(tree: Any) -> list[str]:
    out: list[str] = []

    def walk(item: Any, path: str) -> None:
        if item.isHidden():
            return
        here = f"{path}/{item.text(0)}"
        out.append(here)
        for i in range(item.childCount()):
            walk(item.child(i), here)

    for i in range(tree.topLevelItemCount()):
        walk(tree.topLevelItem(i), "")
    return out


def test_twix_reader_declines_other_files(tmp_path: Path, twix_files: dict[str, Path]) -> None:
    assert get_twix_reader(str(twix_files["text"])) is None
    assert get_twix_reader(str(tmp_path / "missing.dat")) is None
    assert get_twix_reader(str(tmp_path)) is None
    assert get_twix_reader([]) is None
    assert get_twix_reader(str(tmp_path / "x.h5")) is None


def test_open_twix_gives_kspace_layer(viewer: Any) -> None:
    path = shared_data(*SE_PAIR, SE_DAT)
    assert get_twix_reader(str(path)) is read_twix_layers
    (layer,) = viewer.open(str(path), plugin=PLUGIN)
    dataset = raw_of(layer)
    assert dataset is not None
    assert dataset.kspace.n_coils == 32
    assert layer.data.shape == tuple(dataset.kspace.data.shape)
    assert layer.data.dtype == np.float32
    assert layer.name == f"{path.stem} k-space"


def test_truncated_twix_notifies(viewer: Any, twix_files: dict[str, Path], errors: list[str]) -> None:
    if "truncated" not in twix_files:
        shared_data(*SE_PAIR, SE_DAT)  # skips
    path = twix_files["truncated"]
    assert get_twix_reader(str(path)) is read_twix_layers  # the signature is intact
    assert list(viewer.open(str(path), plugin=PLUGIN)) == []
    assert len(viewer.layers) == 0
    assert any("truncated.dat" in m and "truncated" in m.split(":", 1)[1] for m in errors), errors


def test_metadata_shows_searchable_twix_protocol(
    viewer: Any, metadata_widget: Any, twix_files: dict[str, Path], errors: list[str]
) -> None:
    path = shared_data(*SE_PAIR, SE_DAT)
    viewer.open(str(path), plugin=PLUGIN)
    tree = metadata_widget.tree
    tops = [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]
    assert tops == ["summary", "ismrmrdHeader", TWIX_ITEM]
    assert metadata_widget.acquisitions.rowCount() == 64  # 64 lines, no noise scan

    metadata_widget.search.setText("tSequenceFileName")
    shown = _visible(tree)
    assert any(p.endswith("/MeasYaps/tSequenceFileName") for p in shown), shown[:20]
    assert f"/{TWIX_ITEM}/Dicom" not in shown  # sections without a match are hidden
    metadata_widget.search.setText("pulseq_v140")  # values are searched too
    assert any("/tSequenceFileName" in p for p in _visible(tree))
    metadata_widget.search.clear()

    # "Inspect file…" also reads twix; a broken one gives a notification
    assert metadata_widget.show_file(path)
    assert not metadata_widget.show_file(twix_files["text"])
    assert errors and "notes.dat" in errors[-1]
