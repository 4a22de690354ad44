"""ISMRMRD acquisition flags (bit ``n`` set means flag number ``n``, 1-based)."""

from __future__ import annotations

import numpy as np

__all__ = ["FLAGS", "decode_flags", "flag_mask", "has_flag"]

#: Flag numbers of the ISMRMRD acquisition header (ismrmrd.h).
FLAGS: dict[str, int] = {
    "ACQ_FIRST_IN_ENCODE_STEP1": 1,
    "ACQ_LAST_IN_ENCODE_STEP1": 2,
    "ACQ_FIRST_IN_ENCODE_STEP2": 3,
    "ACQ_LAST_IN_ENCODE_STEP2": 4,
    "ACQ_FIRST_IN_AVERAGE": 5,
    "ACQ_LAST_IN_AVERAGE": 6,
    "ACQ_FIRST_IN_SLICE": 7,
    "ACQ_LAST_IN_SLICE": 8,
    "ACQ_FIRST_IN_CONTRAST": 9,
    "ACQ_LAST_IN_CONTRAST": 10,
    "ACQ_FIRST_IN_PHASE": 11,
    "ACQ_LAST_IN_PHASE": 12,
    "ACQ_FIRST_IN_REPETITION": 13,
    "ACQ_LAST_IN_REPETITION": 14,
    "ACQ_FIRST_IN_SET": 15,
    "ACQ_LAST_IN_SET": 16,
    "ACQ_FIRST_IN_SEGMENT": 17,
    "ACQ_LAST_IN_SEGMENT": 18,
    "ACQ_IS_NOISE_MEASUREMENT": 19,
    "ACQ_IS_PARALLEL_CALIBRATION": 20,
    "ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING": 21,
    "ACQ_IS_REVERSE": 22,
    "ACQ_IS_NAVIGATION_DATA": 23,
    "ACQ_IS_PHASECORR_DATA": 24,
    "ACQ_LAST_IN_MEASUREMENT": 25,
    "ACQ_IS_HPFEEDBACK_DATA": 26,
    "ACQ_IS_DUMMYSCAN_DATA": 27,
    "ACQ_IS_RTFEEDBACK_DATA": 28,
    "ACQ_IS_SURFACECOILCORRECTIONSCAN_DATA": 29,
    "ACQ_IS_PHASE_STABILIZATION_REFERENCE": 30,
    "ACQ_IS_PHASE_STABILIZATION": 31,
    "ACQ_COMPRESSION1": 53,
    "ACQ_COMPRESSION2": 54,
    "ACQ_COMPRESSION3": 55,
    "ACQ_COMPRESSION4": 56,
    "ACQ_USER1": 57,
    "ACQ_USER2": 58,
    "ACQ_USER3": 59,
    "ACQ_USER4": 60,
    "ACQ_USER5": 61,
    "ACQ_USER6": 62,
    "ACQ_USER7": 63,
    "ACQ_USER8": 64,
}

_BY_BIT = {v: k for k, v in FLAGS.items()}


def flag_mask(*names: str) -> int:
    """Bit mask with the named flags set."""
    m = 0
    for n in names:
        m |= 1 << (FLAGS[n] - 1)
    return m


def has_flag(flags: np.ndarray, *names: str) -> np.ndarray:
    """Boolean array: which entries of a ``uint64`` flags array carry any named flag."""
    return (np.asarray(flags, dtype=np.uint64) & np.uint64(flag_mask(*names))) != 0


def decode_flags(value: int) -> list[str]:
    """Names of the flags set in one acquisition's ``flags`` field (unknown bits as ``BIT_n``)."""
    names = []
    v = int(value)
    bit = 1
    while v:
        if v & 1:
            names.append(_BY_BIT.get(bit, f"BIT_{bit}"))
        v >>= 1
        bit += 1
    return names
