"""napari plugin of napari-mrrecon: a thin GUI over the ``recon_engine`` package.

Contributions (see ``napari.yaml``): readers for ISMRMRD raw data and images, Siemens twix
and Pulseq sequences, a NIfTI writer that exports from the complex result, sample data
(phantom raw data, qMRI series), and the docks "MR Reconstruction", "Sweep", "qMRI Fitting",
"K-space Explorer", "Metadata", "Trajectory" and "Sequence". The code lives in rooms:
``model/`` (data attached to layers), ``layers/`` (layer data), ``io/`` (readers, writer,
samples), ``_qt/`` (shared Qt parts), ``docks/`` (one per dock) and ``app/`` (the
``mrrecon gui`` launcher :mod:`napari_mrrecon.app.launch`, the GUI benchmark probe); see
docs/architecture.md. Importing this package imports neither napari nor torch.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
