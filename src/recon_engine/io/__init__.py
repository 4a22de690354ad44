"""File input and output: ISMRMRD raw data and images, NIfTI, DICOM, NumPy.

Inputs are opened read-only and never modified; outputs are written to a temporary
file beside the target and renamed.
"""
