"""The "Sequence" dock: the sequence diagram of a Pulseq sequence for a block or time range.

"Simulate…" below the diagram shows the :class:`~napari_mrrecon.docks.sequence.simulate.SimulatePanel`
(the chosen sequence simulated on a phantom, the result a raw dataset layer).

One engine call per redraw, :meth:`PulseqSequence.waveforms
<recon_engine.io.pulseq.PulseqSequence.waveforms>` for the chosen blocks or time window,
drawn as stacked tracks sharing the time axis: RF (magnitude), Gx, Gy, Gz, ADC samples,
and the labels set (``LIN=3``, ...). Block boundaries show as faint vertical lines.
Changing the range redraws after a short pause (debounced), so scrolling through a long
sequence with the spin boxes stays fluid.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import QTimer, Signal
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import signals_blocked

from napari_mrrecon._qt.layer_choice import DatasetChoice
from napari_mrrecon.docks.sequence.simulate import SimulatePanel
from napari_mrrecon.model.entries import SequenceDataset

if TYPE_CHECKING:
    import napari.viewer
    from matplotlib.axes import Axes

    from recon_engine.io.pulseq import PulseqSequence, SequenceWaveforms

__all__ = ["DEFAULT_BLOCKS", "MAX_BLOCK_LINES", "MAX_LABEL_TEXTS", "TRACKS", "SequenceWidget"]

#: The tracks of the diagram, top to bottom.
TRACKS: tuple[str, ...] = ("RF", "Gx", "Gy", "Gz", "ADC", "Labels")
#: Blocks shown when a sequence is chosen.
DEFAULT_BLOCKS = 12
#: Block boundaries are drawn only when the range has at most this many blocks.
MAX_BLOCK_LINES = 200
#: At most this many label texts are written (the markers are always drawn).
MAX_LABEL_TEXTS = 60
_DEBOUNCE_MS = 150
_UNITS = {"RF": "|RF|\n[Hz]", "Gx": "Gx\n[kHz/m]", "Gy": "Gy\n[kHz/m]", "Gz": "Gz\n[kHz/m]"}


class SequenceWidget(QWidget):
    """Dock "Sequence": RF, gradients, ADC and labels of a Pulseq sequence.

    Parameters
    ----------
    napari_viewer
        The viewer (napari passes it when it creates the dock).

    Attributes
    ----------
    waveforms
        The engine's waveforms of the range drawn last (None before the first draw).
    axes
        Track name → matplotlib axes, for :data:`TRACKS`.
    simulate_toggle, simulation
        The "Simulate…" button and the simulation panel it shows (hidden at first).
    redrawn
        Qt signal emitted after each redraw.
    """

    redrawn = Signal()

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        from napari_mrrecon._qt.canvas import ThemedCanvas

        self.viewer = napari_viewer
        self.waveforms: SequenceWaveforms | None = None
        self.axes: dict[str, Axes] = {}
        self._sequence: SequenceDataset | None = None

        self.source = DatasetChoice(
            napari_viewer, self, kinds=(SequenceDataset,), tooltip="Pulseq sequence (a .seq trajectory layer)"
        )
        self.mode = QComboBox()
        self.mode.addItems(["blocks", "time"])
        self.mode.setToolTip("Choose the part of the sequence by block numbers or by time")
        self.first_block = QSpinBox()
        self.last_block = QSpinBox()
        for block_box in (self.first_block, self.last_block):
            block_box.setKeyboardTracking(False)
        self.first_block.setToolTip("First block shown")
        self.last_block.setToolTip("Last block shown")
        self.start_ms = QDoubleSpinBox()
        self.stop_ms = QDoubleSpinBox()
        for time_box in (self.start_ms, self.stop_ms):
            time_box.setDecimals(3)
            time_box.setSuffix(" ms")
            time_box.setKeyboardTracking(False)
        self.start_ms.setToolTip("Start of the time window")
        self.stop_ms.setToolTip("End of the time window")

        block_row = _range_row(self.first_block, self.last_block)
        time_row = _range_row(self.start_ms, self.stop_ms)
        self.range_stack = QStackedWidget()
        self.range_stack.addWidget(block_row)
        self.range_stack.addWidget(time_row)
        self.range_stack.setFixedHeight(block_row.sizeHint().height())

        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.plot = ThemedCanvas(
            self, viewer=napari_viewer, figsize=(4.5, 6.0), layout="constrained", min_height=300, toolbar=True
        )
        self.figure, self.canvas = self.plot.figure, self.plot.canvas

        form = QFormLayout()
        form.addRow("Sequence", self.source)
        form.addRow("Range by", self.mode)
        form.addRow("Range", self.range_stack)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.info)
        layout.addWidget(self.plot, 1)
        self.simulate_toggle = QPushButton("Simulate…")
        self.simulate_toggle.setCheckable(True)
        self.simulate_toggle.setToolTip("Simulate this sequence on a phantom (Bloch simulation)")
        self.simulation = SimulatePanel(napari_viewer, lambda: self._sequence)
        self.simulation.setVisible(False)
        self.simulate_toggle.toggled.connect(self.simulation.setVisible)
        layout.addWidget(self.simulate_toggle)
        layout.addWidget(self.simulation)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(_DEBOUNCE_MS)
        self._timer.timeout.connect(self.redraw)
        self.source.currentIndexChanged.connect(self._on_source)
        self.mode.currentIndexChanged.connect(self._on_mode)
        for spin in (self.first_block, self.last_block, self.start_ms, self.stop_ms):
            spin.valueChanged.connect(self.schedule_redraw)
        self._on_source()

    # ---- inputs -----------------------------------------------------------------------------
    @property
    def sequence(self) -> PulseqSequence | None:
        """The chosen sequence, or None."""
        return self._sequence.sequence if self._sequence is not None else None

    def _on_source(self, *_: Any) -> None:
        entry = self.source.entry()
        entry = entry if isinstance(entry, SequenceDataset) else None
        if entry is self._sequence and entry is not None:
            return  # the layer list changed, not the choice
        self._sequence = entry
        seq = self.sequence
        boxes: tuple[QSpinBox | QDoubleSpinBox, ...] = (
            self.first_block,
            self.last_block,
            self.start_ms,
            self.stop_ms,
        )
        with ExitStack() as stack:
            for box in boxes:
                stack.enter_context(signals_blocked(box))
            if seq is not None:
                self._set_ranges(seq)
        self.redraw()

    def _set_ranges(self, seq: Any) -> None:
        """Ranges and start values of the block and time boxes for ``seq`` (signals blocked)."""
        if seq is not None:
            n = int(seq.n_blocks)
            duration_ms = float(seq.duration_s) * 1e3
            for block_box in (self.first_block, self.last_block):
                block_box.setRange(1, max(n, 1))
            self.first_block.setValue(1)
            self.last_block.setValue(min(n, DEFAULT_BLOCKS))
            for dbox in (self.start_ms, self.stop_ms):
                dbox.setRange(0.0, duration_ms)
            self.start_ms.setValue(0.0)
            starts = np.asarray(seq.block_starts_s, dtype=np.float64)
            ends = starts + np.asarray(seq.block_durations_s, dtype=np.float64)
            self.stop_ms.setValue(float(ends[min(n, DEFAULT_BLOCKS) - 1]) * 1e3 if n else duration_ms)

    def _on_mode(self, index: int) -> None:
        self.range_stack.setCurrentIndex(index)
        self.redraw()

    def schedule_redraw(self, *_: Any) -> None:
        """Redraw after a short pause (spin-box changes come in bursts)."""
        self._timer.start()

    def set_blocks(self, first: int, last: int) -> None:
        """Show blocks ``first`` to ``last`` (1-based, inclusive, as in the ``.seq`` file)."""
        self.mode.setCurrentText("blocks")
        self._set_pair(self.first_block, self.last_block, first, last)

    def set_time_range(self, start_ms: float, stop_ms: float) -> None:
        """Show the time window ``[start_ms, stop_ms]``."""
        self.mode.setCurrentText("time")
        self._set_pair(self.start_ms, self.stop_ms, start_ms, stop_ms)

    def _set_pair(self, a: Any, b: Any, lo: float, hi: float) -> None:
        for box, value in ((a, lo), (b, hi)):
            with signals_blocked(box):
                box.setValue(value)
        self._timer.stop()
        self.redraw()

    def range(self) -> dict[str, tuple[float, float]]:
        """The engine's range: ``blocks=(start, stop)`` (0-based, stop excluded) or ``time_range_s``."""
        if self.mode.currentText() == "blocks":
            lo, hi = sorted((self.first_block.value(), self.last_block.value()))
            return {"blocks": (lo - 1, hi)}
        t0, t1 = sorted((self.start_ms.value(), self.stop_ms.value()))
        return {"time_range_s": (t0 / 1e3, t1 / 1e3)}

    # ---- drawing ------------------------------------------------------------------------------
    def redraw(self) -> None:
        """Ask the engine for the waveforms of the chosen range and draw them."""
        from napari.utils.notifications import show_error

        from recon_engine.errors import ReconError

        self._timer.stop()
        self.figure.clear()
        self.axes = {}
        self.waveforms = None
        seq = self.sequence
        if seq is None:
            self.info.setText("Open a Pulseq .seq file to see its sequence diagram.")
        else:
            try:
                self.waveforms = seq.waveforms(**self.range())  # type: ignore[arg-type]
            except ReconError as exc:
                show_error(f"Sequence: {exc}")
                self.info.setText(f"Cannot draw this range: {exc}")
            else:
                self._draw(self.waveforms)
        self.canvas.draw_idle()
        self.redrawn.emit()

    def _draw(self, w: SequenceWaveforms) -> None:
        axes = self.figure.subplots(len(TRACKS), 1, sharex=True)
        self.axes = dict(zip(TRACKS, axes, strict=True))
        rf_t = np.asarray(w.rf_t_s) * 1e3
        self.axes["RF"].plot(rf_t, np.abs(np.asarray(w.rf)), color="tab:red", lw=1)
        for axis, colour in zip("xyz", ("tab:blue", "tab:green", "tab:purple"), strict=True):
            t, g = w.grad[axis]
            self.axes[f"G{axis}"].plot(np.asarray(t) * 1e3, np.asarray(g) / 1e3, color=colour, lw=1)
        adc_t = np.asarray(w.adc_t_s) * 1e3
        ax_adc = self.axes["ADC"]
        ax_adc.plot(adc_t, np.ones_like(adc_t), "|", color="tab:orange", ms=8)
        ax_adc.set_yticks([])
        ax_adc.set_ylim(0, 2)
        self._draw_labels(self.axes["Labels"], w.labels)
        for name, ax in self.axes.items():
            ax.set_ylabel(_UNITS.get(name, name), fontsize="x-small")
            ax.tick_params(labelsize="x-small")
            ax.grid(True, alpha=0.3)
            if name in _UNITS:
                ax.locator_params(axis="y", nbins=3)
        self.figure.align_ylabels(list(self.axes.values()))
        starts = np.asarray(w.block_starts_s) * 1e3
        if starts.size <= MAX_BLOCK_LINES:
            for ax in self.axes.values():
                for t0 in starts:
                    ax.axvline(t0, color="0.6", lw=0.5, ls=":")
        self.axes["Labels"].set_xlabel("time [ms]")
        lo, hi = self._time_limits(w)
        if hi > lo:
            self.axes["Labels"].set_xlim(lo, hi)
        rng = self.range()
        what = (
            f"blocks {rng['blocks'][0] + 1}–{rng['blocks'][1]} of {self.sequence.n_blocks}"  # type: ignore[union-attr]
            if "blocks" in rng
            else f"{lo:.3f}–{hi:.3f} ms"
        )
        self.info.setText(
            f"{what}: {adc_t.size} ADC samples, {len(w.labels)} label events "
            f"(sequence: {self.sequence.duration_s * 1e3:.1f} ms)."  # type: ignore[union-attr]
        )

    def _time_limits(self, w: SequenceWaveforms) -> tuple[float, float]:
        rng = self.range()
        if "time_range_s" in rng:
            t0, t1 = rng["time_range_s"]
            return t0 * 1e3, t1 * 1e3
        seq = self.sequence
        assert seq is not None
        start, stop = (int(b) for b in rng["blocks"])
        starts = np.asarray(seq.block_starts_s, dtype=np.float64)
        ends = starts + np.asarray(seq.block_durations_s, dtype=np.float64)
        return float(starts[start]) * 1e3, float(ends[stop - 1]) * 1e3

    @staticmethod
    def _draw_labels(ax: Axes, labels: list[tuple[float, str, Any]]) -> None:
        names = sorted({str(name) for _, name, _ in labels})
        rows = {name: i for i, name in enumerate(names)}
        if labels:
            t = np.array([float(t) for t, _, _ in labels]) * 1e3
            y = np.array([rows[str(name)] for _, name, _ in labels])
            ax.plot(t, y, "v", color="black", ms=4)
            for t_s, name, value in labels[:MAX_LABEL_TEXTS]:
                xy = (float(t_s) * 1e3, rows[str(name)])
                ax.annotate(f"{name}={value}", xy, xytext=(2, 3), textcoords="offset points", fontsize=6)
        if not labels:
            ax.text(
                0.5, 0.5, "no labels set here", transform=ax.transAxes, ha="center", va="center", color="0.5"
            )
        ax.set_yticks(range(len(names)), names, fontsize="x-small")
        ax.set_ylim(-0.7, max(len(names), 1) - 0.3)


def _range_row(first: QWidget, last: QWidget) -> QWidget:
    """``first`` "to" ``last`` in one row."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(first)
    layout.addWidget(QLabel("to"))
    layout.addWidget(last)
    return row
