"""The K-space Explorer's source and movie groups, and its metrics line.

:class:`SourcePanel` holds the source choice with the phantom's matrix and the number of
simulated coils; :class:`MoviePanel` the iteration-movie switch and the acquisition movie's
order, frame count and button. Each carries its explanation for students
(:data:`recon_engine.teaching.EXPLANATIONS`). :func:`format_metrics` writes the metrics line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)

from napari_mrrecon.docks.explorer.controls import explanation, explanation_label
from napari_mrrecon.docks.explorer.source import SourceChoice

if TYPE_CHECKING:
    import napari.viewer

__all__ = ["MATRIX_SIZES", "ORDERS_SHOWN", "MoviePanel", "SourcePanel", "format_metrics"]

#: Matrix sizes offered for the phantom.
MATRIX_SIZES: tuple[int, ...] = (64, 128, 256, 384)
#: Acquisition orders of the movie (the engine's ``ORDERS``).
ORDERS_SHOWN: tuple[str, ...] = ("linear", "centric", "epi", "radial")


class SourcePanel(QGroupBox):
    """Group "Source": data (phantom, raw dataset, image layer), matrix and coils.

    Parameters
    ----------
    viewer
        The viewer.
    exclude
        Predicate for layers never offered as a source (the explorer's own).
    parent
        Parent widget.
    """

    def __init__(
        self, viewer: napari.viewer.Viewer, exclude: Callable[[Any], bool], parent: QWidget | None = None
    ) -> None:
        super().__init__("Source", parent)
        self.source = SourceChoice(viewer, exclude, self)
        self.matrix = QComboBox()
        self.matrix.addItems([str(n) for n in MATRIX_SIZES])
        self.matrix.setCurrentText("256")
        self.matrix.setToolTip("Matrix size of the phantom")
        self.coils = QSpinBox()
        self.coils.setRange(1, 32)
        self.coils.setValue(8)
        self.coils.setToolTip("Number of simulated receive coils (phantom and image sources)")
        form = QFormLayout(self)
        form.addRow("Data", self.source)
        row = QHBoxLayout()
        row.addWidget(QLabel("Matrix"))
        row.addWidget(self.matrix)
        row.addWidget(QLabel("Coils"))
        row.addWidget(self.coils)
        form.addRow(row)
        form.addRow(explanation_label(explanation("source")))

    def factory(self) -> tuple[str, Callable[[], Any]]:
        """Key and builder of the chosen source (see :meth:`SourceChoice.factory`)."""
        return self.source.factory(n=int(self.matrix.currentText()), coils=self.coils.value())

    def set_matrix(self, n: Any) -> None:
        """Choose the phantom's matrix ``n``.

        Raises
        ------
        ValueError
            ``n`` is not one of :data:`MATRIX_SIZES`.
        """
        if int(n) not in MATRIX_SIZES:
            raise ValueError(f"n = {n}: choose one of {', '.join(map(str, MATRIX_SIZES))}")
        self.matrix.setCurrentText(str(int(n)))


class MoviePanel(QGroupBox):
    """Group "Movies": keep every iterate; acquisition movie order, frames and button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Movies", parent)
        self.keep_iterates = QCheckBox("keep every iterate (iteration movie)")
        self.keep_iterates.setToolTip("SENSE/CS: keep each CG/FISTA iterate as a stack with a slider")
        self.order = QComboBox()
        self.order.addItems(list(ORDERS_SHOWN))
        self.order.setToolTip("Order in which k-space is filled")
        self.frames = QSpinBox()
        self.frames.setRange(2, 256)
        self.frames.setValue(32)
        self.frames.setToolTip("Number of movie frames")
        self.movie_button = QPushButton("Acquisition movie")
        self.movie_button.setToolTip("Fill k-space in this order and build up the image, one frame per step")
        form = QFormLayout(self)
        form.addRow(self.keep_iterates)
        form.addRow(explanation_label(explanation("iteration_movie")))
        row = QHBoxLayout()
        row.addWidget(self.order)
        row.addWidget(QLabel("Frames"))
        row.addWidget(self.frames)
        form.addRow("Order", row)
        form.addRow(self.movie_button)
        form.addRow(explanation_label(explanation("acquisition_movie")))

    def set_order(self, order: str) -> None:
        """Choose the acquisition order.

        Raises
        ------
        ValueError
            Not one of :data:`ORDERS_SHOWN`.
        """
        if order not in ORDERS_SHOWN:
            raise ValueError(f"acquisition_movie: choose one of {', '.join(ORDERS_SHOWN)}")
        self.order.setCurrentText(order)


def format_metrics(metrics: Mapping[str, float], seconds: float) -> str:
    """``NRMSE 0.123 · effective R 3.9 · sampled 25.6 % · 45 ms`` (noise σ and g-factor when present)."""
    parts = []
    if "nrmse" in metrics:
        parts.append(f"NRMSE {metrics['nrmse']:.3f}")
    if "acceleration" in metrics:
        parts.append(f"effective R {metrics['acceleration']:.2f}")
    if "sampled_fraction" in metrics:
        parts.append(f"sampled {100 * metrics['sampled_fraction']:.1f} %")
    if metrics.get("noise_std"):
        parts.append(f"noise σ {metrics['noise_std']:.3g}")
    if "gfactor_mean" in metrics:
        g_max = metrics.get("gfactor_max", float("nan"))
        parts.append(f"g mean {metrics['gfactor_mean']:.2f}, max {g_max:.2f}")
    parts.append(f"{1000 * seconds:.0f} ms")
    return " · ".join(parts)
