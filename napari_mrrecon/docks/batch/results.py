"""The Batch dock's results: a table that fills as files finish, and opening an output in the viewer.

:class:`ResultsTable` shows one :class:`~recon_engine.batch.FileResult` per row (input,
status, seconds, output, one-line error). :func:`open_output` puts a batch output into the
viewer: ISMRMRD images through this plugin's reader (the layer carries the complex
master, as any reconstruction), NumPy/NIfTI images as float layers, and the maps of a fit
batch (``.npz`` or a ``<stem>_maps`` NIfTI directory) as one layer per map.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from napari_mrrecon.io.open import open_with_plugin

if TYPE_CHECKING:
    import napari.layers
    import napari.viewer

    from recon_engine.batch import FileResult

__all__ = ["COLUMNS", "STOPPED", "ResultsTable", "open_output"]

#: Table columns.
COLUMNS: tuple[str, ...] = ("Input", "Status", "Seconds", "Output", "Error")
#: Status shown for the files a Stop left undone.
STOPPED = "stopped"
#: Arrays of a maps ``.npz`` that are not maps.
_NOT_MAPS = ("mask", "times", "model")


class ResultsTable(QTableWidget):
    """One row per finished file; :attr:`results` holds the rows' results, :attr:`statuses` what they show.

    Parameters
    ----------
    parent
        The dock.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.results: list[FileResult] = []
        self.statuses: list[str] = []
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.horizontalHeader()
        if header is not None:
            header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            header.setStretchLastSection(True)
        self.setToolTip("Double-click a row to open its result")

    def clear_rows(self) -> None:
        """Remove every row."""
        self.results.clear()
        self.statuses.clear()
        self.setRowCount(0)

    def shown(self) -> set[str]:
        """Inputs that have a row."""
        return {r.input for r in self.results}

    def add(self, result: FileResult, status: str | None = None) -> int:
        """Append a row for ``result`` (showing ``status`` instead of its own); returns its row number."""
        shown = result.status if status is None else status
        self.results.append(result)
        self.statuses.append(shown)
        row = self.rowCount()
        self.insertRow(row)
        values = (
            Path(result.input).name,
            shown,
            f"{result.seconds:.2f}",
            "" if result.output is None else result.output,
            " ".join((result.error or "").split()),  # one line
        )
        for col, value in enumerate(values):
            item = QTableWidgetItem(value)
            item.setToolTip(result.input if col == 0 else value)
            self.setItem(row, col, item)
        return row

    def counts(self) -> dict[str, int]:
        """Rows per status."""
        out: dict[str, int] = {}
        for status in self.statuses:
            out[status] = out.get(status, 0) + 1
        return out


def _magnitude(a: np.ndarray) -> np.ndarray:
    return np.abs(a).astype(np.float32) if np.iscomplexobj(a) else np.asarray(a, dtype=np.float32)


def _nifti(path: Path) -> np.ndarray:
    from recon_engine.io.nifti import read_nifti

    data, _ = read_nifti(path)  # voxel order (x, y, z[, t])
    return np.squeeze(np.transpose(data, tuple(range(data.ndim))[::-1]))


def _maps_of(path: Path) -> list[tuple[str, np.ndarray]]:
    if path.is_dir():
        files = sorted(p for p in path.glob("*.nii*") if not p.name.startswith("sd_"))
        return [(p.name.split(".")[0], _nifti(p)) for p in files]
    with np.load(path, allow_pickle=False) as z:
        return [(k, z[k]) for k in z.files if k not in _NOT_MAPS and not k.startswith("sd_")]


def open_output(viewer: napari.viewer.Viewer, output: str | Path) -> list[napari.layers.Layer]:
    """Open a batch output in ``viewer`` (main thread); returns the layers added.

    Raises
    ------
    OSError, ValueError or recon_engine.errors.ReconError
        The file cannot be read.
    """
    path = Path(output)
    name = path.name.lower()
    if name.endswith((".h5", ".mrd")):
        return open_with_plugin(viewer, path)
    stem = path.name.split(".")[0]
    arrays: list[tuple[str, np.ndarray]]
    if path.is_dir() or name.endswith(".npz"):
        arrays = [(f"{stem} {k}", a) for k, a in _maps_of(path)]
    elif name.endswith(".npy"):
        arrays = [(stem, np.squeeze(np.load(path, allow_pickle=False)))]
    elif name.endswith((".nii", ".nii.gz")):
        arrays = [(stem, _nifti(path))]
    else:
        raise ValueError(f"{path.name}: not a batch output this dock can open")
    layers: list[Any] = []
    for layer_name, a in arrays:
        data = _magnitude(a)
        finite = data[np.isfinite(data)]
        kwargs: dict[str, Any] = {"name": layer_name}
        if finite.size and float(finite.max()) > float(finite.min()):
            lo, hi = (float(v) for v in np.percentile(finite, (1, 99)))
            kwargs["contrast_limits"] = (lo, hi) if hi > lo else (float(finite.min()), float(finite.max()))
        layers.append(viewer.add_image(np.nan_to_num(data, nan=0.0), **kwargs))
    return layers
