"""Pulseq sequences (``.seq``, format versions 1.2–1.5): blocks, waveforms, labels, trajectory.

Parsing, waveforms and labels are pypulseq's (``Sequence.read``, ``get_block``,
``waveforms``, ``adc_times``); the k-space at the ADC samples is integrated exactly from the
decoded gradient events (:mod:`recon_engine.io._pulseq_kspace`, pypulseq's ``rf_times`` for
the excitations, equal to ``calculate_kspace`` where that is right); this module adds the
checks a reconstruction needs and matches the ADC events to raw data
(:func:`attach_sequence`). pypulseq 1.5.0 reads all four versions, with three small
in-memory work-arounds described in :mod:`recon_engine.io._pulseq_read` (an endless loop
at a file end without a blank line, 1.2/1.3 shapes stored with ``num_samples`` values,
and ``remove_duplicates`` on 1.5.1 oversampled gradients). Input files are only read.

Conventions: times in s from the start of the sequence, gradients in Hz/m, RF in Hz,
k-space in 1/m as ``(kx, ky, kz)`` (pypulseq) or in cycles per FOV as ``(kz, ky, kx)``
(:func:`trajectory_from_seq`, the engine's order). Block indices are 0-based (Pulseq
block ID − 1 for files that number their blocks 1, 2, ...).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from recon_engine.data.readouts import Readouts
from recon_engine.errors import DataError, ParameterError
from recon_engine.io._pulseq_attach import attach
from recon_engine.io._pulseq_blocks import (
    AdcEvents,
    BlockScan,
    SequenceWaveforms,
    block_range,
    block_rows,
    build_adc_events,
    excitation_slices,
    scan_blocks,
)
from recon_engine.io._pulseq_kspace import adc_kspace
from recon_engine.io._pulseq_read import load_sequence
from recon_engine.io._pulseq_waves import build_waveforms

__all__ = [
    "AdcEvents",
    "PulseqSequence",
    "SequenceWaveforms",
    "attach_sequence",
    "read_seq",
    "trajectory_from_seq",
]


class PulseqSequence:
    """A Pulseq sequence read from a ``.seq`` file.

    Attributes
    ----------
    path
        The file.
    version
        ``(major, minor, revision)`` of its format.
    definitions
        The ``[DEFINITIONS]`` as written (numbers as float, several as a tuple).
    raw
        The underlying ``pypulseq.Sequence``.
    notes
        pypulseq's warnings while reading (old format, default raster times, ...).
    """

    def __init__(
        self,
        path: Path,
        raw: Any,
        version: tuple[int, int, int],
        definitions: dict[str, Any],
        notes: tuple[str, ...],
    ) -> None:
        self.path = path
        self.raw = raw
        self.version = version
        self.definitions = definitions
        self.notes = notes

    def __repr__(self) -> str:
        v = ".".join(map(str, self.version))
        name = self.path.name
        return f"PulseqSequence({name!r}, version {v}, {self.n_blocks} blocks, {self.duration_s:.4g} s)"

    @cached_property
    def _scan(self) -> BlockScan:
        return scan_blocks(self.raw)

    @property
    def fov_mm(self) -> tuple[float, float, float] | None:
        """``(x, y, z)`` FOV in mm from the ``FOV`` definition (metres; values ≥ 1 taken as mm)."""
        fov = self.definitions.get("FOV")
        if not isinstance(fov, tuple) or len(fov) != 3 or not all(np.isfinite(fov)) or min(fov) <= 0:
            return None
        scale = 1e3 if max(fov) < 1.0 else 1.0
        return (fov[0] * scale, fov[1] * scale, fov[2] * scale)

    @property
    def n_blocks(self) -> int:
        """Number of blocks."""
        return int(self._scan.ids.shape[0])

    @property
    def block_starts_s(self) -> np.ndarray:
        """Start time of every block (s), ``(n_blocks,)``."""
        return self._scan.starts_s.copy()

    @property
    def block_durations_s(self) -> np.ndarray:
        """Duration of every block (s), ``(n_blocks,)``."""
        return self._scan.durations_s.copy()

    @property
    def duration_s(self) -> float:
        """Total duration (s)."""
        return float(self._scan.durations_s.sum())

    def block_table(self) -> list[dict[str, object]]:
        """One row per block, for a table of the sequence's structure.

        Keys: ``index`` (0-based), ``start_s``, ``duration_s``, the event IDs ``rf``,
        ``gx``, ``gy``, ``gz``, ``adc`` (0 = none) and ``labels``, the label values in
        effect in that block (``"LIN=3 SLC=0"``, after the block's own label events).
        """
        return block_rows(self._scan)

    def waveforms(
        self, *, blocks: tuple[int, int] | None = None, time_range_s: tuple[float, float] | None = None
    ) -> SequenceWaveforms:
        """RF, gradients, ADC samples and labels of a range of blocks, for a sequence diagram.

        Parameters
        ----------
        blocks
            ``(start, stop)`` 0-based block indices, ``stop`` excluded.
        time_range_s
            ``(t0, t1)`` in s: all blocks overlapping it (whole blocks).

        Raises
        ------
        ParameterError
            Both ranges given, or a range outside the sequence.
        DataError
            pypulseq cannot build the waveforms (inconsistent sequence).
        """
        a, b = block_range(self._scan, blocks, time_range_s)
        return build_waveforms(self.raw, self._scan, a, b, str(self.path))

    @cached_property
    def _kspace(self) -> np.ndarray:
        try:
            return adc_kspace(self.raw, self._scan)
        except Exception as exc:
            raise DataError(f"{self.path}: cannot compute the k-space trajectory ({exc})") from exc

    def kspace_adc(self) -> np.ndarray:
        """k-space at every ADC sample, ``(n_adc, n_samples, 3)`` ``(kx, ky, kz)`` in 1/m.

        As pypulseq's ``calculate_kspace`` (excitations reset k to 0, refocusing pulses
        invert it), but with the gradient moment integrated exactly block by block
        (:mod:`recon_engine.io._pulseq_kspace`: pypulseq ramps across gaps before
        arbitrary gradients). Events with fewer samples than the longest are padded with NaN.

        Raises
        ------
        DataError
            pypulseq cannot compute the trajectory.
        """
        return self._kspace.copy()

    @cached_property
    def _events(self) -> AdcEvents:
        try:
            kx: np.ndarray | None = self._kspace[..., 0]
        except DataError:
            kx = None
        return build_adc_events(self._scan, kx)

    def adc_events(self) -> AdcEvents:
        """The ADC events in execution order (timing, labels, reversed readouts, flags)."""
        return self._events

    @cached_property
    def _slices(self) -> tuple[np.ndarray, np.ndarray] | None:
        return excitation_slices(self.raw, self._scan)

    def excitation_slices(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Slice of each ADC event from its excitation's frequency offset (for files without SLC).

        Returns
        -------
        (slices, positions_m) or None
            int ``(n_adc,)`` slice index (0 = lowest ``z``) and float ``(n_slices,)``
            slice positions ``z = f_rf / G_z`` in m; None when the ADC events do not all
            follow a slice-selective excitation or all excitations are at one position.
            See :func:`recon_engine.io._pulseq_blocks.excitation_slices`.
        """
        found = self._slices
        return None if found is None else (found[0].copy(), found[1].copy())


def read_seq(path: str | os.PathLike[str]) -> PulseqSequence:
    """Read a Pulseq ``.seq`` file (versions 1.2–1.5).

    Raises
    ------
    FileFormatError
        Missing or unreadable file, unsupported version, truncated or corrupt content.
    """
    p = Path(path)
    raw, version, definitions, notes = load_sequence(p)
    return PulseqSequence(p, raw, version, definitions, notes)


def _fov(
    seq: PulseqSequence, fov_mm: float | Sequence[float] | None, fallback: Any = None
) -> tuple[float, ...]:
    if fov_mm is None:
        fov = seq.fov_mm or fallback
        if fov is None:
            raise ParameterError(f"{seq.path.name} has no FOV definition; pass fov_mm=(x, y, z) in mm")
        return tuple(float(v) for v in fov)
    values = np.atleast_1d(np.asarray(fov_mm, dtype=np.float64))
    if values.size == 1:
        values = np.repeat(values, 3)
    if values.size != 3 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ParameterError(f"fov_mm must be one or three positive numbers (x, y, z in mm), got {fov_mm!r}")
    return tuple(float(v) for v in values)


def trajectory_from_seq(seq: PulseqSequence, *, fov_mm: float | Sequence[float] | None = None) -> np.ndarray:
    """k-space of every ADC sample in cycles per FOV, the engine's axis order.

    Parameters
    ----------
    seq
        The sequence.
    fov_mm
        ``(x, y, z)`` FOV in mm (one number: isotropic); default: the sequence's ``FOV``.

    Returns
    -------
    np.ndarray
        float32 ``(n_adc, n_samples, 3)`` as ``(kz, ky, kx)`` = k [1/m] × FOV [m]
        (NaN after the last sample of events shorter than the longest).

    Raises
    ------
    ParameterError
        No FOV given and none defined in the sequence.
    """
    fov = np.asarray(_fov(seq, fov_mm)) / 1e3
    return (seq.kspace_adc() * fov)[..., ::-1].astype(np.float32)


def attach_sequence(
    readouts: Readouts,
    seq: PulseqSequence,
    *,
    fov_mm: float | Sequence[float] | None = None,
    matrix: Sequence[int] | None = None,
    n_dummy: int | None = None,
) -> Readouts:
    """Give raw readouts the counters, flags and trajectory of the sequence that made them.

    The ADC events are matched to the raw readouts in acquisition order, skipping the
    raw data's own noise readouts (``ACQ_IS_NOISE_MEASUREMENT``; also surface-coil
    correction and feedback readouts); the counts and samples per readout must agree.
    Dummy scans: the ``.seq`` cannot mark them, so when it has more ADC events than the
    raw data has readouts and the surplus leading events (fewer than the readouts) each
    repeat a later event exactly (labels and trajectory), they are taken as dummy scans
    without data; pass ``n_dummy`` to say how many there are.

    Counters come from the labels (LIN→``kspace_encode_step_1``, PAR→``_2``, SLC→slice,
    REP→repetition, AVG→average, SET→set, ECO→contrast, PHS→phase, SEG→segment). A
    multi-slice sequence without SLC label whose excitations are slice-selective at different
    positions (frequency offset ``f`` over the slice gradient ``G_z``) gets the slice counter
    from the excitation before each ADC event (0 = lowest ``z``; only where the raw
    readouts' own slice counters are all 0), recorded as ``meta["pulseq"]["slices_inferred"]``
    (number of slices, positions in mm, ``"rf frequency offset"``). Flags:
    REV or decreasing ``kx`` → ``ACQ_IS_REVERSE`` (cleared otherwise), NAV →
    ``ACQ_IS_PHASECORR_DATA``, REF → ``ACQ_IS_PARALLEL_CALIBRATION``, IMA →
    ``ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING``, NOISE → ``ACQ_IS_NOISE_MEASUREMENT``.

    **Cartesian** (every imaging readout has constant ``ky``/``kz`` on the integer grid
    and the same uniform ``kx`` positions): without a LIN label ``k1 = ky + N1/2``
    (modulo ``N1``, which is exact for an FFT recon; PAR/``kz`` likewise for ``k2``), and
    unlabelled repeats of the same line become repetitions; the header trajectory is
    ``"cartesian"``, the encoded readout FOV is ``FOV / Δkx`` (readout oversampling when
    ``Δkx < 1``). **Otherwise** (``ky`` varying along the readout, off the grid, or
    non-uniform ``kx`` as in ramp-sampled EPI) ``k1`` numbers the readouts in
    acquisition order (per slice, repetition, ...) and the trajectory type is ``"epi"``,
    ``"radial"``, ``"spiral"`` or ``"other"`` (NUFFT reconstruction).

    Matrix: ``matrix`` ``(x, y, z)`` if given, else for Cartesian data ``N = max(2·ceil
    max|k|, kmax − kmin + 1)`` per phase axis and ``samples · Δkx`` along x, for the others
    ``2·ceil(max|k|)`` per axis in cycles per FOV (``z`` = 1 for 2D; spiral and radial
    trajectories with a square in-plane FOV: ``2·ceil(max √(kx² + ky²))`` for both ``x``
    and ``y``, since their extent is a disc). The trajectory of
    each readout is stored as ``(samples, 3)`` ``(kx, ky, kz)`` in cycles per encoded FOV,
    ``meta["trajectory_units"] = "grid"``; ``meta["pulseq"]`` records what was done.

    Parameters
    ----------
    readouts
        Raw data in acquisition order (not modified).
    seq
        The sequence that produced it.
    fov_mm
        ``(x, y, z)`` FOV in mm; default: the sequence's ``FOV``, else the raw header's.
    matrix
        ``(x, y, z)`` recon matrix; default: from the trajectory (see above).
    n_dummy
        Number of leading ADC events without data; None: detect (see above).

    Returns
    -------
    Readouts
        A new object with counters, flags, trajectories and header filled in.

    Raises
    ------
    DataError
        The numbers of ADC events and readouts, or their samples, disagree.
    ParameterError
        Bad ``fov_mm``/``matrix``/``n_dummy``, or no FOV anywhere.
    """
    enc = readouts.header.encoded_fov_mm
    fallback = enc if enc[0] > 0 and enc[1] > 0 else None
    fov = _fov(seq, fov_mm, fallback)
    if matrix is not None and (len(matrix) != 3 or min(int(m) for m in matrix) < 1):
        raise ParameterError(f"matrix must be three positive sizes (x, y, z), got {matrix!r}")
    mat = None if matrix is None else (int(matrix[0]), int(matrix[1]), int(matrix[2]))
    new, _ = attach(
        readouts,
        seq.adc_events(),
        seq.kspace_adc(),
        (fov[0], fov[1], fov[2]),
        mat,
        n_dummy,
        seq.path.name,
        slices=None if "SLC" in seq.adc_events().labels else seq.excitation_slices(),
    )
    return new
