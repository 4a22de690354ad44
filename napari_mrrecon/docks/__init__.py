"""One module or package per dock of ``napari.yaml``; a dock never imports another dock.

:mod:`~napari_mrrecon.docks.recon` (MR Reconstruction), :mod:`~napari_mrrecon.docks.sweep`
(Sweep), :mod:`~napari_mrrecon.docks.qmri` (qMRI Fitting), :mod:`~napari_mrrecon.docks.explorer`
(K-space Explorer), :mod:`~napari_mrrecon.docks.metadata` (Metadata),
:mod:`~napari_mrrecon.docks.trajectory` (Trajectory), :mod:`~napari_mrrecon.docks.sequence`
(Sequence), :mod:`~napari_mrrecon.docks.training` (Training), :mod:`~napari_mrrecon.docks.batch` (Batch).
"""
