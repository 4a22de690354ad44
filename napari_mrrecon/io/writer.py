"""npe2 writer: NIfTI export of a reconstruction from its complex master."""

from __future__ import annotations

from typing import Any

from napari_mrrecon.model.entries import result_of

__all__ = ["write_nifti"]


def write_nifti(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Write the reconstruction behind an image layer as NIfTI (``.nii``/``.nii.gz``).

    The magnitude is computed from the complex image kept in the plugin's model, not
    from the displayed float view; when the layer currently shows the phase, the phase
    is written too (``<stem>_phase.nii.gz``, radians).

    Parameters
    ----------
    path
        Output file ending in ``.nii`` or ``.nii.gz``.
    data
        The layer's displayed data (unused: export starts from the complex master).
    meta
        The layer's attributes; ``meta["metadata"]["mrrecon"]`` holds the result.

    Returns
    -------
    list of str
        The files written.

    Raises
    ------
    recon_engine.errors.ExportError
        The layer is not a reconstruction of this plugin, or the file cannot be written.
    """
    from recon_engine.errors import ExportError
    from recon_engine.io.nifti import write_nifti as engine_write_nifti

    result = result_of(meta.get("metadata") or {})
    if result is None:
        name = meta.get("name", "this layer")
        raise ExportError(
            f"{name!r} is not an MR reconstruction: the NIfTI writer of napari-mrrecon exports "
            "the complex result of the 'MR Reconstruction' dock (with its geometry)"
        )
    written = engine_write_nifti(result.image, path, phase=result.view == "phase")
    return [str(p) for p in written]
