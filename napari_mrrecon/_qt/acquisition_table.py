"""Qt table model over an :class:`~recon_engine.data.acquisitions.AcquisitionTable`.

Rows are fetched from the engine on demand (:meth:`AcquisitionTable.rows`), so a file
with hundreds of thousands of readouts opens instantly; a flag filter shows only the
acquisitions that carry one flag (e.g. the noise scans).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

if TYPE_CHECKING:
    from recon_engine.data.acquisitions import AcquisitionTable

__all__ = ["COLUMNS", "AcquisitionTableModel"]

#: Columns shown, as keys of :meth:`AcquisitionTable.rows` entries.
COLUMNS: tuple[str, ...] = (
    "index",
    "flags",
    "k1",
    "k2",
    "slice",
    "contrast",
    "repetition",
    "average",
    "samples",
    "channels",
    "scan_counter",
)

_Index = QModelIndex | QPersistentModelIndex


class AcquisitionTableModel(QAbstractTableModel):
    """Read-only table of acquisition headers with decoded flag names."""

    def __init__(self) -> None:
        super().__init__()
        self._table: AcquisitionTable | None = None
        self._rows = np.zeros(0, dtype=np.int64)
        self._cache: dict[int, dict[str, object]] = {}

    def set_table(self, table: AcquisitionTable | None, flag: str | None = None) -> None:
        """Show ``table`` (None clears), optionally only acquisitions carrying ``flag``."""
        self.beginResetModel()
        self._table = table
        self._cache.clear()
        if table is None:
            self._rows = np.zeros(0, dtype=np.int64)
        elif flag:
            from recon_engine.data.flags import has_flag

            self._rows = np.flatnonzero(has_flag(table.flags, flag))
        else:
            self._rows = np.arange(len(table))
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        """Number of acquisitions shown."""
        return 0 if parent.isValid() else int(self._rows.size)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        """Number of columns."""
        return 0 if parent.isValid() else len(COLUMNS)

    def acquisition_indices(self, rows: list[int] | np.ndarray) -> np.ndarray:
        """Acquisition numbers (rows of the engine's table) of table rows ``rows``."""
        r = np.asarray(rows, dtype=np.int64)
        return self._rows[r[(r >= 0) & (r < self._rows.size)]]

    def row(self, r: int) -> dict[str, object]:
        """The engine's display row of table row ``r`` (cached)."""
        if r not in self._cache:
            assert self._table is not None
            i = int(self._rows[r])
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[r] = self._table.rows(i, i + 1)[0]
        return self._cache[r]

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Cell text (display role) or tooltip with the whole flag list."""
        if not index.isValid() or self._table is None:
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            value = self.row(index.row())[COLUMNS[index.column()]]
            return str(value)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        """Column names."""
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None
