"""One MRD connection's state: config, metadata, gathered acquisitions, reconstructions.

:class:`Session` knows nothing of sockets: :meth:`Session.feed` takes one decoded
:class:`~recon_engine.server.protocol.Message` and returns the encoded replies (images,
text). Acquisitions are gathered per (slice, contrast, repetition); an acquisition
flagged ``ACQ_LAST_IN_SLICE`` (or ``ACQ_LAST_IN_REPETITION``/``ACQ_LAST_IN_MEASUREMENT``)
reconstructs every gathered contrast of its slice and repetition; the close message
reconstructs whatever is left. Noise scans are kept for every slice; navigators and
calibration readouts travel with their slice, and the engine's sorting sets them apart
exactly as it does for a file. Waveforms (physiology: ECG, pulse, respiration; id 1026)
are decoded and kept apart in :attr:`Session.waveforms`; no reconstruction uses them.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recon_engine.data.acquisitions import NON_IMAGING
from recon_engine.data.flags import flag_mask
from recon_engine.data.header import MRHeader
from recon_engine.errors import ReconError
from recon_engine.recipe import Recipe
from recon_engine.server.protocol import (
    Message,
    MessageId,
    ProtocolError,
    encode_image,
    encode_text,
)

__all__ = ["BUILTIN_DEFAULT", "GroupKey", "ServerSettings", "Session", "resolve_config"]

log = logging.getLogger("recon_engine.server")

#: Config name that means "the server's default recipe".
BUILTIN_DEFAULT = "default"

GroupKey = tuple[int, int, int]
"""(slice, contrast, repetition) of a gathered group."""

_NOISE = flag_mask("ACQ_IS_NOISE_MEASUREMENT")
_NON_IMAGING = flag_mask(*NON_IMAGING)
_TRIGGER = flag_mask("ACQ_LAST_IN_SLICE", "ACQ_LAST_IN_REPETITION", "ACQ_LAST_IN_MEASUREMENT")


@dataclass(frozen=True)
class ServerSettings:
    """How a server reconstructs.

    Attributes
    ----------
    recipe
        Default recipe (None: the engine's suggestion per slice, ``suggest_method``).
    recipe_dir
        Directory whose ``*.yaml`` recipes a client may name in its config message.
    save_dir
        Where every connection's images are also saved (``<time>-<n>.h5``), or None.
    device
        Device for built-in methods named by a client.
    series
        ``image_series_index`` of the images sent back.
    """

    recipe: Recipe | None = None
    recipe_dir: Path | None = None
    save_dir: Path | None = None
    device: str = "auto"
    series: int = 1


def _builtin(method: str, device: str) -> Recipe:
    return Recipe(input_file="", method=method, device=device)


def resolve_config(name: str, settings: ServerSettings) -> tuple[Recipe | None, str | None]:
    """The recipe a config name stands for, and a warning when it stands for nothing.

    Order: empty or ``"default"`` → the server's default; a built-in method
    (``direct``, ``grappa``, ``sense``, ...) with its default options; ``NAME`` or
    ``NAME.yaml`` inside ``recipe_dir`` (no paths outside it). Anything else: the default
    and a warning.
    """
    from recon_engine.reconstructions import METHODS

    n = name.strip()
    if n in ("", BUILTIN_DEFAULT):
        return settings.recipe, None
    if n in METHODS:
        return _builtin(n, settings.device), None
    if settings.recipe_dir is not None and "/" not in n and "\\" not in n and not n.startswith("."):
        from recon_engine.recipe import load_recipe

        for cand in (n, f"{n}.yaml", f"{n}.yml"):
            p = settings.recipe_dir / cand
            if p.is_file():
                return load_recipe(p), None
    return (
        settings.recipe,
        f"unknown config {n!r} (not a method of {sorted(METHODS)} nor a recipe); using the default",
    )


def _recipe_from_text(text: str, settings: ServerSettings) -> tuple[Recipe | None, str | None]:
    body = text.strip()
    if body.startswith("<"):
        return settings.recipe, "XML (Gadgetron) configurations are not understood; using the default recipe"
    if "mrrecon_recipe" in body:
        from recon_engine.recipe import load_recipe

        fd, tmp = tempfile.mkstemp(suffix=".yaml")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            return load_recipe(tmp), None
        finally:
            os.unlink(tmp)
    return resolve_config(body, settings)


@dataclass
class Session:
    """The state of one connection (see the module docstring).

    Attributes
    ----------
    settings
        Server settings.
    name
        Connection name for logs (peer address).
    waveforms
        The ``ismrmrd.Waveform`` s received (physiology), in arrival order.
    """

    settings: ServerSettings
    name: str = "client"
    recipe: Recipe | None = None
    header: MRHeader | None = None
    header_xml: str | None = None
    configured: bool = False
    closed: bool = False
    noise: list[Any] = field(default_factory=list)
    waveforms: list[Any] = field(default_factory=list)
    groups: dict[GroupKey, list[Any]] = field(default_factory=dict)
    sent_images: list[Any] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)
    clock: Callable[[], float] = time.perf_counter

    def __post_init__(self) -> None:
        self.recipe = self.settings.recipe

    # --- messages --------------------------------------------------------------------------

    def feed(self, msg: Message) -> list[bytes]:
        """Handle one message; return the encoded replies.

        Raises
        ------
        ProtocolError
            Messages out of order (acquisition before metadata) or unusable metadata XML;
            the connection should send the error text and close.
        """
        self.counts[msg.id.name] = self.counts.get(msg.id.name, 0) + 1
        if msg.id in (MessageId.CONFIG_FILE, MessageId.CONFIG_TEXT):
            return self._config(msg)
        if msg.id is MessageId.METADATA:
            return self._metadata(msg.text or "")
        if msg.id is MessageId.ACQUISITION:
            return self._acquisition(msg.item)
        if msg.id is MessageId.CLOSE:
            self.closed = True
            return self.flush()
        if msg.id is MessageId.TEXT:
            log.info("%s says: %s", self.name, msg.text)
        elif msg.id is MessageId.WAVEFORM:
            self.waveforms.append(msg.item)  # physiology: set apart, not reconstructed
        elif msg.id is MessageId.IMAGE:
            return [encode_text("WARNING: the server reconstructs raw data; incoming images are ignored")]
        return []

    def _config(self, msg: Message) -> list[bytes]:
        if self.header is not None:
            raise ProtocolError("config message after the metadata; send the config first")
        text = msg.text or ""
        try:
            if msg.id is MessageId.CONFIG_FILE:
                self.recipe, warning = resolve_config(text, self.settings)
            else:
                self.recipe, warning = _recipe_from_text(text, self.settings)
        except ReconError as exc:
            raise ProtocolError(f"config {text[:80]!r}: {' '.join(str(exc).split())}") from exc
        self.configured = True
        return [] if warning is None else [encode_text(f"WARNING: {warning}")]

    def _metadata(self, xml: str) -> list[bytes]:
        from recon_engine.data.header import parse_header

        if self.header is not None:
            raise ProtocolError("a second metadata message on one connection")
        try:
            self.header = parse_header(xml)
        except (ReconError, ValueError) as exc:
            raise ProtocolError(f"bad metadata XML: {' '.join(str(exc).split())}") from exc
        self.header_xml = xml
        return []

    def _acquisition(self, acq: Any) -> list[bytes]:
        if self.header is None:
            raise ProtocolError("acquisition before the metadata (ISMRMRD XML header) message")
        flags = int(acq.flags)
        if flags & _NOISE:
            self.noise.append(acq)
            return []
        key = (int(acq.idx.slice), int(acq.idx.contrast), int(acq.idx.repetition))
        self.groups.setdefault(key, []).append(acq)
        if flags & _TRIGGER:
            t_last = self.clock()
            done = [k for k in self.groups if k[0] == key[0] and k[2] == key[2]]
            return self._reconstruct(done, t_last)
        return []

    # --- reconstruction --------------------------------------------------------------------

    def flush(self) -> list[bytes]:
        """Reconstruct every group still gathered (at close)."""
        return self._reconstruct(sorted(self.groups), self.clock())

    def _recipe_for(self, kspace: Any) -> Recipe:
        if self.recipe is not None:
            return self.recipe
        from recon_engine.reconstructions.auto import suggest_method

        return _builtin(suggest_method(kspace), self.settings.device)

    def _reconstruct(self, keys: list[GroupKey], t_last: float) -> list[bytes]:
        from recon_engine.api import reconstruct_steps
        from recon_engine.io.sorting import sort_readouts
        from recon_engine.progress import run
        from recon_engine.server.convert import images_from, readouts_from

        assert self.header is not None
        out: list[bytes] = []
        for key in sorted(keys):
            acqs = self.groups.pop(key)
            where = f"slice {key[0]}, contrast {key[1]}, repetition {key[2]}"
            try:
                readouts = readouts_from(
                    self.header,
                    [*self.noise, *acqs],
                    reset={"slice": 0, "contrast": 0, "repetition": 0},
                    source=f"{self.name} ({where})",
                )
                read_opts = dict(self.recipe.read_options) if self.recipe is not None else {}
                kspace = sort_readouts(readouts, **read_opts)
                recipe = self._recipe_for(kspace)
                image = run(
                    reconstruct_steps(
                        kspace,
                        method=recipe.method,
                        device=recipe.device,
                        **recipe.preprocess,
                        **recipe.options,
                    )
                )
                template = next((a for a in acqs if not int(a.flags) & _NON_IMAGING), acqs[0])
                images = images_from(
                    image,
                    counters={"slice": key[0], "contrast": key[1], "repetition": key[2]},
                    first_index=len(self.sent_images) + 1,
                    series=self.settings.series,
                    template=template,
                    comment=recipe.method,
                )
            except ReconError as exc:
                log.warning("%s: %s: %s", self.name, where, exc)
                out.append(encode_text(f"ERROR: {where}: {' '.join(str(exc).split())}"))
                continue
            self.sent_images.extend(images)
            out.extend(encode_image(im) for im in images)
            self.latencies_s.append(self.clock() - t_last)
        return out
