"""Qt parts shared by the docks (no dock imports another dock; they all import from here).

:mod:`~napari_mrrecon._qt.runner` (the one background runner), :mod:`~napari_mrrecon._qt.run_dock`
(the Run/Stop/progress dock base), :mod:`~napari_mrrecon._qt.layer_choice` (layer combo boxes),
:mod:`~napari_mrrecon._qt.forms` and :mod:`~napari_mrrecon._qt.method_panel` (option forms
from signatures), :mod:`~napari_mrrecon._qt.float_edit` (number fields),
:mod:`~napari_mrrecon._qt.acquisition_table` (the acquisition table model).
"""
