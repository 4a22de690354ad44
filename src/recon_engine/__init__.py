"""recon_engine — headless MR reconstruction engine of napari-mrrecon.

A short API for scripts::

    import recon_engine as mr

    ks = mr.read("scan.h5")                       # KSpace (*other, coils, k2, k1, k0)
    img = mr.reconstruct(ks, combine="adaptive")  # ImageData (*other, 1, z, y, x)
    mr.save(img, "scan.nii.gz")                   # .npy / .nii(.gz) / .h5 / DICOM directory

The engine never imports napari or Qt.
"""

from __future__ import annotations

from recon_engine.api import info, read, reconstruct, reconstruct_steps, save
from recon_engine.data import Geometry, ImageData, KSpace, MRHeader
from recon_engine.errors import (
    DataError,
    ExportError,
    FileFormatError,
    HeaderError,
    ParameterError,
    ReconError,
)
from recon_engine.progress import ProgressEvent, run
from recon_engine.qmri import fit, load_series

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "ExportError",
    "FileFormatError",
    "Geometry",
    "HeaderError",
    "ImageData",
    "KSpace",
    "MRHeader",
    "ParameterError",
    "ProgressEvent",
    "ReconError",
    "__version__",
    "fit",
    "info",
    "load_series",
    "read",
    "reconstruct",
    "reconstruct_steps",
    "run",
    "save",
]
