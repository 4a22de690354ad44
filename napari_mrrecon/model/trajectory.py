"""What the Trajectory dock plots, gathered from a raw dataset or a Pulseq sequence.

Display glue only (indexing and reshaping of what the engine returns): the k-space
positions of every readout, a colour value per sample (time or a label), and which
readout each acquisition went to, so that selected acquisitions can be highlighted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from recon_engine.data import KSpace
    from recon_engine.io.pulseq import PulseqSequence

__all__ = ["COUNTERS", "TrajectoryData", "format_indices", "from_kspace", "from_sequence", "parse_indices"]

#: ISMRMRD counters offered as colour labels (display name → ``idx`` field).
COUNTERS: dict[str, str] = {
    "k1": "kspace_encode_step_1",
    "k2": "kspace_encode_step_2",
    "slice": "slice",
    "contrast": "contrast",
    "repetition": "repetition",
    "average": "average",
    "phase": "phase",
    "set": "set",
    "segment": "segment",
}


@dataclass(frozen=True)
class TrajectoryData:
    """Readouts of one dataset as the Trajectory dock shows them.

    Attributes
    ----------
    k
        float32 ``(n_readouts, n_samples, 3)``, ``(kz, ky, kx)`` in cycles per FOV (NaN
        after the last sample of readouts shorter than the longest), or None for Cartesian
        data (then :attr:`mask` is shown).
    mask
        bool ``(k2, k1)`` sampling mask (first ``other`` index) for Cartesian data, else None.
    positions
        int ``(n_readouts, 2)``: ``(k2, k1)`` of each readout in :attr:`mask` (Cartesian).
    order
        float ``(n_readouts,)``: acquisition number of each readout.
    n_samples
        Samples per readout.
    time_start, time_step
        float ``(n_readouts,)``: "time" of the first sample of each readout and its
        increment per sample (see :meth:`times`); ms for sequences, acquisition order
        (``order + sample / n_samples``) for raw data, whose files seldom carry sample times.
    time_label
        Colour-bar label of :meth:`times`.
    labels
        Label name → ``(n_readouts,)`` values (counters of the raw data, Pulseq labels).
    readout_of
        int ``(n_acquisitions,)``: readout each acquisition went to, -1 for those that are
        not in k-space (noise scans, navigators, ...).
    k_unit
        Unit of :attr:`k`: ``"1/FOV"`` (cycles per FOV), or ``"1/m"`` for a sequence
        without a FOV definition.
    """

    k: np.ndarray | None
    mask: np.ndarray | None
    positions: np.ndarray
    order: np.ndarray
    n_samples: int
    time_start: np.ndarray
    time_step: np.ndarray
    time_label: str
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    readout_of: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    k_unit: str = "1/FOV"

    @property
    def n_readouts(self) -> int:
        """Number of readouts (interleaves, spokes, lines)."""
        return int(self.order.shape[0])

    def times(self, stride: int = 1) -> np.ndarray:
        """Colour value "time" of every ``stride``-th sample, ``(n_readouts, ceil(n_samples / stride))``."""
        samples = np.arange(0, self.n_samples, stride, dtype=np.float64)
        return self.time_start[:, None] + self.time_step[:, None] * samples[None, :]

    @property
    def is_3d(self) -> bool:
        """True when ``|kz|`` exceeds half a cycle per FOV (or the mask has several k2).

        2D sequences leave rounding residues of slice selection in ``kz``; they stay far
        below half a k-space step.
        """
        if self.k is not None:
            kz = np.abs(self.k[..., 0])
            return bool(kz.size and np.nanmax(kz, initial=0.0) > 0.5)
        return self.mask is not None and self.mask.shape[0] > 1

    def readouts(self, acquisitions: np.ndarray) -> np.ndarray:
        """The readouts (sorted, unique) that the given acquisitions went to."""
        acquisitions = np.asarray(acquisitions, dtype=np.int64)
        valid = acquisitions[(acquisitions >= 0) & (acquisitions < self.readout_of.shape[0])]
        r = self.readout_of[valid]
        return np.unique(r[r >= 0])


def _readout_map(kspace: KSpace) -> tuple[np.ndarray, np.ndarray]:
    """Readout of every acquisition (-1 if none) and the acquisition of every readout.

    Readouts are the sampled ``(*other, k2, k1)`` positions of ``sampling_mask`` in C
    order; the engine's sorter records which acquisition filled each position
    (``meta["acquisition_index"]``).
    """
    mask = kspace.sampling_mask.detach().cpu().numpy()
    n_readouts = int(mask.sum())
    readout_of = np.full(len(kspace.acquisitions), -1, dtype=np.int64)
    index = kspace.meta.get("acquisition_index")
    if not isinstance(index, np.ndarray) or index.shape != mask.shape:  # k-space not from the sorter
        return readout_of, np.arange(n_readouts, dtype=np.int64)
    acquisition = index[mask]
    readout_of[acquisition] = np.arange(n_readouts, dtype=np.int64)
    return readout_of, acquisition


def from_kspace(kspace: KSpace) -> TrajectoryData:
    """Trajectory (non-Cartesian) or sampling mask (Cartesian) of sorted raw data.

    Parameters
    ----------
    kspace
        ``trajectory`` ``(*other, k2, k1, k0, 3)`` (kz, ky, kx) in cycles per FOV, or
        None; ``sampling_mask`` ``(*other, k2, k1)``.
    """
    mask_all = kspace.sampling_mask.detach().cpu().numpy()
    readout_of, acquisition = _readout_map(kspace)
    positions = np.argwhere(mask_all)[:, -2:]
    n0 = int(kspace.data.shape[-1])
    order = acquisition.astype(np.float64)
    step = np.full(order.shape, 1.0 / max(n0, 1))  # time = order + sample / n0
    acq = kspace.acquisitions
    labels: dict[str, np.ndarray] = {}
    if len(acq):
        for name, counter in COUNTERS.items():
            if counter in (acq.headers["idx"].dtype.names or ()):
                values = acq.counter(counter)[acquisition]
                if np.unique(values).size > 1:
                    labels[name] = values
    common: dict[str, Any] = {
        "positions": positions,
        "order": order,
        "n_samples": n0,
        "time_start": order,
        "time_step": step,
        "time_label": "acquisition order",
        "labels": labels,
        "readout_of": readout_of,
    }
    if kspace.header.is_cartesian or kspace.trajectory is None:
        other = mask_all.reshape(-1, *mask_all.shape[-2:])
        return TrajectoryData(k=None, mask=other[0], **common)
    k = kspace.trajectory.detach().cpu().numpy()[mask_all]  # (n_readouts, k0, 3)
    return TrajectoryData(k=np.ascontiguousarray(k, dtype=np.float32), mask=None, **common)


def from_sequence(sequence: PulseqSequence) -> TrajectoryData:
    """The k-space trajectory of a Pulseq sequence's ADC events (one readout per event).

    In cycles per FOV; a sequence without a ``FOV`` definition is shown in 1/m (the
    engine's trajectory for a FOV of 1 m).
    """
    from recon_engine.io.pulseq import trajectory_from_seq

    no_fov = sequence.fov_mm is None
    k = np.asarray(trajectory_from_seq(sequence, fov_mm=1000.0 if no_fov else None), dtype=np.float32)
    events = sequence.adc_events()
    n_adc, n_samples = k.shape[0], k.shape[1]
    dwell_ms = np.asarray(events.dwell_s, dtype=np.float64) * 1e3
    labels = {name: np.asarray(v) for name, v in events.labels.items() if np.unique(v).size > 1}
    return TrajectoryData(
        k=k,
        mask=None,
        positions=np.zeros((n_adc, 2), np.int64),
        order=np.arange(n_adc, dtype=np.float64),
        n_samples=n_samples,
        # Pulseq: sample i of an ADC event is taken at start + (i + 0.5) · dwell
        time_start=np.asarray(events.start_s, dtype=np.float64) * 1e3 + dwell_ms / 2,
        time_step=dwell_ms,
        time_label="time [ms]",
        labels=labels,
        readout_of=np.arange(n_adc, dtype=np.int64),
        k_unit="1/m" if no_fov else "1/FOV",
    )


def parse_indices(text: str) -> np.ndarray:
    """``"3, 5-7"`` → ``[3, 5, 6, 7]``; raises ValueError on anything else."""
    out: list[int] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        a, _, b = part.partition("-")
        lo, hi = int(a), int(b) if b else int(a)
        if lo < 0 or hi < lo:
            raise ValueError(f"not an acquisition range: {part!r}")
        out.extend(range(lo, hi + 1))
    return np.unique(np.asarray(out, dtype=np.int64))


def format_indices(indices: np.ndarray) -> str:
    """``[3, 5, 6, 7]`` → ``"3, 5-7"``."""
    idx = np.unique(np.asarray(indices, dtype=np.int64))
    if idx.size == 0:
        return ""
    breaks = np.flatnonzero(np.diff(idx) != 1)
    starts = np.r_[idx[0], idx[breaks + 1]]
    ends = np.r_[idx[breaks], idx[-1]]
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in zip(starts, ends, strict=True))
