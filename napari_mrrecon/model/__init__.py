"""The plugin's data, attached to layers: no Qt, no napari import.

:mod:`~napari_mrrecon.model.entries` (raw datasets, sequences, reconstruction results, the
shared acquisition selection, layer look-ups), :mod:`~napari_mrrecon.model.qmri` (image series
and fitted maps), :mod:`~napari_mrrecon.model.trajectory` (what the Trajectory dock plots).
"""
