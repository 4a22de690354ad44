"""Online reconstruction over the MRD (ISMRMRD) streaming protocol.

:mod:`~recon_engine.server.protocol` frames and parses the messages (bounded lengths);
:class:`~recon_engine.server.server.MRDServer` (``mrrecon serve``) gathers acquisitions per
slice, reconstructs them with a recipe and sends ISMRMRD images back;
:func:`~recon_engine.server.client.stream_file` (``mrrecon stream``) is a client for any
MRD server. See ``docs/scale.md``.
"""

from recon_engine.server.client import (
    StreamResult,
    file_messages,
    read_raw,
    read_waveforms,
    stream_file,
    stream_messages,
)
from recon_engine.server.convert import images_from, readouts_from, save_images
from recon_engine.server.protocol import LIMITS, Message, MessageId, ProtocolError, read_message
from recon_engine.server.server import DEFAULT_PORT, MRDServer
from recon_engine.server.session import ServerSettings, Session, resolve_config

__all__ = [
    "DEFAULT_PORT",
    "LIMITS",
    "MRDServer",
    "Message",
    "MessageId",
    "ProtocolError",
    "ServerSettings",
    "Session",
    "StreamResult",
    "file_messages",
    "images_from",
    "read_message",
    "read_raw",
    "read_waveforms",
    "readouts_from",
    "resolve_config",
    "save_images",
    "stream_file",
    "stream_messages",
]
