"""Per-readout metadata: the ISMRMRD acquisition headers as a table."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from recon_engine.data.flags import decode_flags, has_flag

__all__ = ["AcquisitionTable"]

_KINDS = {
    "noise": ("ACQ_IS_NOISE_MEASUREMENT",),
    "calibration": ("ACQ_IS_PARALLEL_CALIBRATION",),
    "calibration_and_imaging": ("ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING",),
    "navigator": ("ACQ_IS_NAVIGATION_DATA",),
    "phasecorr": ("ACQ_IS_PHASECORR_DATA",),
    "reverse": ("ACQ_IS_REVERSE",),
    "dummy": ("ACQ_IS_DUMMYSCAN_DATA",),
    "feedback": ("ACQ_IS_HPFEEDBACK_DATA", "ACQ_IS_RTFEEDBACK_DATA"),
}

#: Flags whose readouts are not image k-space (kept apart by the reader).
NON_IMAGING = (
    "ACQ_IS_NOISE_MEASUREMENT",
    "ACQ_IS_NAVIGATION_DATA",
    "ACQ_IS_PHASECORR_DATA",
    "ACQ_IS_HPFEEDBACK_DATA",
    "ACQ_IS_RTFEEDBACK_DATA",
    "ACQ_IS_DUMMYSCAN_DATA",
    "ACQ_IS_SURFACECOILCORRECTIONSCAN_DATA",
    "ACQ_IS_PHASE_STABILIZATION_REFERENCE",
    "ACQ_IS_PHASE_STABILIZATION",
)


@dataclass(frozen=True)
class AcquisitionTable:
    """The acquisition headers of a file, read without the sample data.

    Attributes
    ----------
    headers
        NumPy structured array, shape ``(n_acquisitions,)``, with the fields of the
        ISMRMRD ``AcquisitionHeader`` (``flags``, ``idx``, ``number_of_samples``,
        ``active_channels``, ``position``, ``read_dir``, ...).
    """

    headers: np.ndarray

    def __len__(self) -> int:
        return int(self.headers.shape[0])

    @property
    def flags(self) -> np.ndarray:
        """``uint64`` flags per acquisition, shape ``(n,)``."""
        return np.asarray(self.headers["flags"], dtype=np.uint64)

    def is_kind(self, kind: str) -> np.ndarray:
        """Boolean mask of acquisitions of a kind (``"noise"``, ``"navigator"``, ...)."""
        return has_flag(self.flags, *_KINDS[kind])

    @property
    def is_imaging(self) -> np.ndarray:
        """Acquisitions that belong in image k-space (not noise, navigators, ...)."""
        return ~has_flag(self.flags, *NON_IMAGING)

    def counter(self, name: str) -> np.ndarray:
        """One ``idx`` counter (``kspace_encode_step_1``, ``slice``, ...) per acquisition."""
        return np.asarray(self.headers["idx"][name]).astype(np.int64)

    def flag_counts(self) -> dict[str, int]:
        """Number of acquisitions per flag name; ``"NONE"`` counts those without flags."""
        counts: Counter[str] = Counter()
        for value, n in zip(*np.unique(self.flags, return_counts=True), strict=True):
            names = decode_flags(int(value)) or ["NONE"]
            for name in names:
                counts[name] += int(n)
        return dict(sorted(counts.items()))

    def kind_counts(self) -> dict[str, int]:
        """Number of acquisitions per kind: imaging, noise, calibration, navigator, ..."""
        out = {"imaging": int(self.is_imaging.sum())}
        for kind in _KINDS:
            out[kind] = int(self.is_kind(kind).sum())
        return out

    def rows(self, start: int = 0, stop: int | None = None) -> list[dict[str, object]]:
        """Rows for display: scan counter, counters, samples, channels, decoded flags."""
        stop = len(self) if stop is None else min(stop, len(self))
        out: list[dict[str, object]] = []
        h = self.headers
        for i in range(start, stop):
            idx = h["idx"][i]
            out.append(
                {
                    "index": i,
                    "scan_counter": int(h["scan_counter"][i]),
                    "k1": int(idx["kspace_encode_step_1"]),
                    "k2": int(idx["kspace_encode_step_2"]),
                    "slice": int(idx["slice"]),
                    "contrast": int(idx["contrast"]),
                    "repetition": int(idx["repetition"]),
                    "average": int(idx["average"]),
                    "samples": int(h["number_of_samples"][i]),
                    "channels": int(h["active_channels"][i]),
                    "flags": ", ".join(decode_flags(int(h["flags"][i]))),
                }
            )
        return out
