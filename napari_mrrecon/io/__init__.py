"""npe2 readers, writer and sample data: files → layer data tuples (no Qt).

:mod:`~napari_mrrecon.io.reader` (ISMRMRD raw data and images), :mod:`~napari_mrrecon.io.twix`
(Siemens twix), :mod:`~napari_mrrecon.io.sequence` (Pulseq), :mod:`~napari_mrrecon.io.writer`
(NIfTI from the complex master), :mod:`~napari_mrrecon.io.samples` and
:mod:`~napari_mrrecon.io.qmri_samples` (sample data).
"""
