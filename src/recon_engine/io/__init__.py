"""File input and output: ISMRMRD raw data and images, NIfTI, DICOM, NumPy.

Inputs are opened read-only and never modified; outputs are written to a temporary
file beside the target and renamed (:func:`atomic_file`, :func:`atomic_directory`, also for
callers outside the engine, e.g. the plugin's CSV export).
"""

from recon_engine.io._atomic import atomic_directory, atomic_file, check_parent

__all__ = ["atomic_directory", "atomic_file", "check_parent"]
