"""Between the wire and the engine: streamed acquisitions → :class:`Readouts`, images → ISMRMRD images.

A streamed acquisition becomes one row of an :class:`AcquisitionTable` (its 340 header
bytes viewed with the ISMRMRD header dtype), its samples and its trajectory, exactly as
the file reader makes them; the engine's :func:`~recon_engine.io.sorting.sort_readouts`
then sorts them (noise scans and navigators set apart).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.header import MRHeader
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import OTHER_AXES
from recon_engine.data.readouts import Readouts
from recon_engine.server.protocol import ismrmrd

__all__ = ["IMTYPE_COMPLEX", "acquisition_row", "images_from", "readouts_from", "save_images"]

#: ISMRMRD image type of complex images (``ISMRMRD_IMTYPE_COMPLEX``).
IMTYPE_COMPLEX = 5


def acquisition_row(acquisition: Any) -> np.ndarray:
    """The acquisition's header as a 0-d structured array of the ISMRMRD header dtype."""
    from recon_engine.io._ismrmrd_acquisitions import acquisition_header_dtype

    return np.frombuffer(bytes(acquisition.getHead()), dtype=acquisition_header_dtype())[0].copy()


def readouts_from(
    header: MRHeader,
    acquisitions: Sequence[Any],
    *,
    reset: Mapping[str, int] | None = None,
    source: str = "stream",
) -> Readouts:
    """Readouts (acquisition order) of streamed ``ismrmrd.Acquisition`` objects.

    Parameters
    ----------
    header
        The stream's parsed metadata.
    acquisitions
        ``ismrmrd.Acquisition`` in arrival order.
    reset
        Counters (``idx`` names) to set on every header, e.g. ``{"slice": 0}`` so that one
        slice of a multi-slice stream sorts into a k-space of one slice.
    source
        Name for error messages.
    """
    from recon_engine.io._ismrmrd_acquisitions import acquisition_header_dtype

    heads = np.zeros(len(acquisitions), dtype=acquisition_header_dtype())
    samples: list[np.ndarray] = []
    trajs: list[np.ndarray | None] = []
    for i, acq in enumerate(acquisitions):
        heads[i] = acquisition_row(acq)
        samples.append(np.ascontiguousarray(acq.data, dtype=np.complex64))
        t = np.asarray(acq.traj, dtype=np.float32)
        trajs.append(t if t.size else None)
    for name, value in (reset or {}).items():
        heads["idx"][name] = value
    return Readouts(
        header=header,
        acquisitions=AcquisitionTable(heads),
        samples=samples,
        trajectories=trajs,
        source=source,
    )


def _meta(values: Mapping[str, str | Sequence[str]]) -> str:
    m = ismrmrd.Meta()
    for k, v in values.items():
        m[k] = v if isinstance(v, str) else list(v)
    return str(m.serialize())


def images_from(
    image: ImageData,
    *,
    counters: Mapping[str, int],
    first_index: int,
    series: int = 1,
    template: Any = None,
    comment: str = "",
) -> list[Any]:
    """ISMRMRD images of a reconstruction: one per index of the ``other`` axes.

    Parameters
    ----------
    image
        ``(*other, coils, z, y, x)`` complex image.
    counters
        ISMRMRD counters of the whole image (``slice``, ``contrast``, ``repetition``);
        an ``other`` axis named like a counter adds its index.
    first_index
        ``image_index`` of the first image (1-based, running over a connection).
    series
        ``image_series_index``.
    template
        ``ismrmrd.Acquisition`` whose time stamps, table position and user fields the
        images copy (the first imaging readout of the slice).
    comment
        ``ImageComment`` meta value (e.g. the method).

    Returns
    -------
    list of ismrmrd.Image
        complex float (``data_type`` CXFLOAT, ``image_type`` complex), with field of
        view, position and direction vectors from ``image.geometry``.
    """
    g = image.geometry
    arr = image.numpy()
    other_shape = arr.shape[:-4]
    names = list(image.other_axes) if len(image.other_axes) == len(other_shape) else []
    names = names or [f"axis{i}" for i in range(len(other_shape))]
    out = []
    for n, ix in enumerate(np.ndindex(*other_shape)):
        index = dict(zip(names, ix, strict=True))
        c = {k: int(v) for k, v in counters.items()}
        c.update({k: c.get(k, 0) + int(v) for k, v in index.items() if k in OTHER_AXES})
        s = index.get("slice", 0)
        centre = (
            g.slice_positions_mm[s] if "slice" in index and s < len(g.slice_positions_mm) else g.position_mm
        )
        extra: dict[str, Any] = {} if template is None else {"acquisition": template}
        im = ismrmrd.Image.from_array(
            np.ascontiguousarray(arr[ix], dtype=np.complex64),
            field_of_view=tuple(float(v) for v in g.fov_mm),
            position=tuple(float(v) for v in centre),
            read_dir=tuple(float(v) for v in g.read_dir),
            phase_dir=tuple(float(v) for v in g.phase_dir),
            slice_dir=tuple(float(v) for v in g.slice_dir),
            image_type=IMTYPE_COMPLEX,
            image_index=first_index + n,
            image_series_index=series,
            **{
                k: v
                for k, v in c.items()
                if k in ("average", "slice", "contrast", "phase", "repetition", "set")
            },
            **extra,
        )
        im.attribute_string = _meta(
            {"DataRole": "Image", "ImageProcessingHistory": "mrrecon", "ImageComment": comment or "mrrecon"}
        )
        out.append(im)
    return out


def save_images(
    images: Sequence[Any], path: str | os.PathLike[str], *, header_xml: str | None = None
) -> list[Path]:
    """Save received ISMRMRD images by extension.

    ``.h5``/``.mrd``: the images as received (headers untouched) in an ISMRMRD image group
    ``dataset/images``, written atomically; anything else (``.npy``, ``.nii``, ``.nii.gz``):
    the images are read back with the engine's ISMRMRD image reader (counters → axes,
    geometry) and saved with :func:`recon_engine.api.save`.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    ExportError
        No images, or an output the engine cannot write.
    """
    import tempfile
    import warnings

    from recon_engine.errors import ExportError
    from recon_engine.io._atomic import atomic_file

    if not images:
        raise ExportError("no images came back from the server; nothing to save")
    target = Path(path)
    ext = target.name.lower()

    def write(dest: Path) -> None:
        with warnings.catch_warnings(), ismrmrd.Dataset(str(dest), "dataset", True) as ds:
            if header_xml:
                ds.write_xml_header(header_xml)
            for im in images:
                ds.append_image("images", im)

    if ext.endswith((".h5", ".mrd")):
        with atomic_file(target) as tmp:
            write(tmp)
        return [target.absolute()]
    from recon_engine.api import save
    from recon_engine.io.ismrmrd_images import read_ismrmrd_images

    with tempfile.TemporaryDirectory() as d:
        tmp_h5 = Path(d) / "images.h5"
        write(tmp_h5)
        image = read_ismrmrd_images(tmp_h5)
    image.meta.pop("source", None)
    return list(save(image, target))
