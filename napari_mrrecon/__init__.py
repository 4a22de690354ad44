"""napari plugin of napari-mrrecon: a thin GUI over the ``recon_engine`` package.

Contributions (see ``napari.yaml``): a reader for ISMRMRD raw data and images, a NIfTI
writer that exports from the complex result, sample raw data, and the docks
"MR Reconstruction" and "Metadata". ``napari_mrrecon.app.launch.launch`` backs the
``mrrecon gui`` command. Importing this package imports neither napari nor torch.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
