"""Containers: k-space, images, headers, geometry.

Axis orders are fixed:

- k-space ``(*other, coils, k2, k1, k0)``
- images ``(*other, coils, z, y, x)``
- parameter maps ``(*other, z, y, x)``
"""

from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.flags import FLAGS, decode_flags
from recon_engine.data.geometry import Geometry
from recon_engine.data.header import MRHeader, header_tree, parse_header
from recon_engine.data.image import ImageData
from recon_engine.data.kspace import OTHER_AXES, KSpace

__all__ = [
    "FLAGS",
    "OTHER_AXES",
    "AcquisitionTable",
    "Geometry",
    "ImageData",
    "KSpace",
    "MRHeader",
    "decode_flags",
    "header_tree",
    "parse_header",
]
