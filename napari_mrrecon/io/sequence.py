"""npe2 reader: a Pulseq sequence (``.seq``) as a points layer of its k-space trajectory.

The layer shows the k-space position of every ADC sample, ``(ky, kx)`` for 2D sequences
or ``(kz, ky, kx)`` for 3D ones, in cycles per FOV (every n-th sample when there are more
than :data:`MAX_POINTS`), coloured by the per-point feature ``"time"`` (ms from the start
of the sequence); the features also hold ``"adc"`` (ADC event number) and the sequence's
labels (``LIN``, ``SLC``, ...). The parsed sequence itself rides in the layer's metadata
(:class:`~napari_mrrecon.model.entries.SequenceDataset`): the "Sequence" dock draws it, the
"Trajectory" dock plots it and "MR Reconstruction" can read raw data with it.

:func:`get_seq_reader` claims ``.seq`` files that look like Pulseq text (a section header
such as ``[VERSION]`` near the start); a file the engine then rejects (truncated, bad
references, unsupported version) gives a notification and no layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_mrrecon.io.reader import LayerData, PathOrPaths, as_list, read_all
from napari_mrrecon.model.entries import METADATA_KEY, SequenceDataset

if TYPE_CHECKING:
    import numpy as np

    from napari_mrrecon.model.trajectory import TrajectoryData

__all__ = ["MAX_POINTS", "get_seq_reader", "read_seq_file", "read_seq_layers", "trajectory_points"]

#: Most points in a trajectory layer; above this every n-th sample of each ADC is kept.
MAX_POINTS = 200_000
_SECTIONS = (b"[VERSION]", b"[DEFINITIONS]", b"[BLOCKS]")


def _looks_like_pulseq(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError:
        return False
    return any(section in head for section in _SECTIONS)


def get_seq_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[LayerData]] | None:
    """Return :func:`read_seq_layers` if every path is a Pulseq ``.seq`` file, else None.

    Never raises: missing files, directories and ``.seq`` files without Pulseq sections
    give None.
    """
    try:
        paths = as_list(path)
    except TypeError:
        return None
    if not paths or not all(p.lower().endswith(".seq") for p in paths):
        return None
    return read_seq_layers if all(_looks_like_pulseq(p) for p in paths) else None


def trajectory_points(data: TrajectoryData | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Points ``(n, 2)`` ``(ky, kx)`` or ``(n, 3)`` ``(kz, ky, kx)`` and per-point features.

    Every ``stride``-th sample of each ADC event is kept so that at most
    :data:`MAX_POINTS` remain (padding of short events dropped). Features: ``"time"``
    (ms), ``"adc"`` and each label. No trajectory (None, no ADC events): no points.
    """
    import numpy as np

    if data is None or data.k is None or data.k.size == 0:
        return np.zeros((0, 2), np.float32), {"time": np.zeros(0, np.float32), "adc": np.zeros(0, np.int64)}
    n_adc, n_samples = data.k.shape[:2]
    stride = max(1, math.ceil(n_adc * n_samples / MAX_POINTS))
    k = data.k[:, ::stride]
    kept = k.shape[1]
    points = k.reshape(-1, 3) if data.is_3d else k[..., 1:].reshape(-1, 2)
    features: dict[str, np.ndarray] = {
        "time": data.times(stride).reshape(-1).astype(np.float32),
        "adc": np.repeat(np.arange(n_adc), kept),
    }
    for name, values in data.labels.items():
        features[name] = np.repeat(np.asarray(values), kept)
    real = np.isfinite(points).all(axis=1)
    if not real.all():
        points = points[real]
        features = {name: values[real] for name, values in features.items()}
    return np.ascontiguousarray(points, dtype=np.float32), features


def read_seq_file(path: str) -> list[LayerData]:
    """Read one ``.seq`` into a trajectory points layer (raises the engine's errors).

    A sequence whose trajectory cannot be computed still opens (without points, with a
    warning), so that its diagram can be looked at.
    """
    from napari.utils.notifications import show_warning

    from napari_mrrecon.model.trajectory import from_sequence
    from recon_engine.errors import ReconError
    from recon_engine.io.pulseq import read_seq

    sequence = read_seq(path)
    stem = Path(path).stem
    data: TrajectoryData | None
    try:
        data = from_sequence(sequence)
    except ReconError as exc:
        show_warning(f"{Path(path).name}: no k-space trajectory ({exc})")
        data = None
    points, features = trajectory_points(data)
    entry = SequenceDataset(sequence=sequence, name=stem, path=str(Path(path).resolve()), trajectory=data)
    kwargs: dict[str, Any] = {
        "name": f"{stem}.seq trajectory",
        "features": features,
        "size": 0.5,
        "border_width": 0,
        "axis_labels": ("kz", "ky", "kx")[-points.shape[1] :],
        "metadata": {METADATA_KEY: entry},
    }
    if points.shape[0]:
        kwargs["face_color"] = "time"
        kwargs["face_colormap"] = "viridis"
    return [(points, kwargs, "points")]


def read_seq_layers(path: PathOrPaths) -> list[LayerData]:
    """Reader function: a trajectory layer per ``.seq``; engine errors become notifications."""
    return read_all(path, read_seq_file)
