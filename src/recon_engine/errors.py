"""The engine's own error types.

Every bad input (corrupt or truncated file, wrong format, missing header field,
trajectory/data mismatch, NaNs, impossible parameter) raises a subclass of
:class:`ReconError` whose message is written for an MR physicist. The ``mrrecon``
command prints it on one line and exits with status 2; the napari plugin shows it as
a notification.
"""

from __future__ import annotations

__all__ = [
    "DataError",
    "ExportError",
    "FileFormatError",
    "HeaderError",
    "ParameterError",
    "ReconError",
]


class ReconError(Exception):
    """Base class of every error the engine raises on purpose."""


class FileFormatError(ReconError):
    """A file is missing, unreadable, truncated or not of the expected format."""


class HeaderError(ReconError):
    """The ISMRMRD header lacks a field the reconstruction needs, or holds nonsense."""


class DataError(ReconError):
    """The raw data itself is unusable (no acquisitions, NaNs, shape mismatch)."""


class ParameterError(ReconError, ValueError):
    """A parameter given by the user is impossible (unknown method, bad device, ...)."""


class ExportError(ReconError):
    """An output cannot be written (missing directory, unknown extension, ...)."""
