"""Arrays → napari layer data ``(data, kwargs)`` and in-place layer updates (no widgets, no Qt).

:mod:`~napari_mrrecon.layers.views` (float32 views of complex data, k-space, coil and
g-factor maps, reusable layers), :mod:`~napari_mrrecon.layers.preview` (the preview layer),
:mod:`~napari_mrrecon.layers.qmri` (series and map layers).
"""
