"""Weights files of the learned models: save, load (safely) and check against the architecture.

A weights file is a ``torch.save`` of a plain dict (no pickled code):

- ``"format"``: :data:`FORMAT`;
- ``"architecture"``: the network's constructor arguments and ``"kind"`` (``"dncnn"`` or
  ``"modl"``), e.g. ``{"kind": "dncnn", "features": 32, "depth": 8, "noise_channel": True}``;
- ``"state_dict"``: parameter name → tensor;
- ``"meta"``: plain values (input scaling, training data, seed, losses, validation figures).

Files are read with ``torch.load(..., weights_only=True)``, which refuses anything but
tensors and plain containers, so a user's file is never executed. A file whose kind, keys or
tensor shapes do not match the network it describes is a :class:`ParameterError` that names
the difference.

The built-in weights ship inside the package (:data:`WEIGHTS_DIR`): ``denoiser.pt`` and
``modl.pt``, trained by ``scripts/train_shipped_models.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recon_engine.errors import FileFormatError, ParameterError
from recon_engine.learned.modl_net import MoDLNet
from recon_engine.learned.networks import DnCNN

__all__ = ["BUILTIN", "FORMAT", "WEIGHTS_DIR", "build", "load_model", "read_weights", "save_model"]

FORMAT = "recon_engine.learned/1"
WEIGHTS_DIR = Path(__file__).parent / "weights"
#: Built-in weights file of each kind.
BUILTIN: dict[str, str] = {"dncnn": "denoiser.pt", "modl": "modl.pt"}
_NETWORKS: dict[str, type[nn.Module]] = {"dncnn": DnCNN, "modl": MoDLNet}


def build(architecture: dict[str, Any]) -> nn.Module:
    """The (untrained) network an architecture dict describes.

    Raises
    ------
    ParameterError
        Unknown kind or arguments.
    """
    arch = dict(architecture)
    kind = arch.pop("kind", None)
    if kind not in _NETWORKS:
        raise ParameterError(f"unknown network kind {kind!r}; known: {sorted(_NETWORKS)}")
    try:
        return _NETWORKS[str(kind)](**arch)
    except TypeError as exc:
        raise ParameterError(f"architecture {architecture} does not fit a {kind} network: {exc}") from exc


def save_model(path: str | os.PathLike[str], model: nn.Module, meta: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s weights, architecture and ``meta`` (plain values) to ``path``."""
    arch = getattr(model, "architecture", None)
    if not isinstance(arch, dict):
        raise ParameterError(f"{type(model).__name__} has no architecture dict to save")
    blob = {
        "format": FORMAT,
        "architecture": dict(arch),
        "state_dict": {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    torch.save(blob, tmp)
    os.replace(tmp, out)
    return out


def resolve_weights(weights: str | os.PathLike[str], kind: str) -> Path:
    """``"builtin"`` → the shipped file of ``kind``; else the given path (must exist)."""
    if str(weights) == "builtin":
        p = WEIGHTS_DIR / BUILTIN[kind]
        if not p.is_file():
            raise FileFormatError(f"the built-in {kind} weights {p} are missing from this installation")
        return p
    p = Path(weights).expanduser()
    if not p.is_file():
        raise FileFormatError(f"{p}: no such weights file")
    return p


def read_weights(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked dict of a weights file (safe load).

    Raises
    ------
    FileFormatError
        Not a torch file, or one that needs code to unpickle, or not in :data:`FORMAT`.
    """
    p = Path(path)
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise FileFormatError(
            f"{p}: not a weights file that loads safely (torch.load weights_only): "
            f"{' '.join(str(exc).split())[:200]}"
        ) from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise FileFormatError(
            f"{p}: not a recon_engine weights file (expected a dict with format {FORMAT!r}); "
            "train one with 'mrrecon train' or save it with recon_engine.learned.save_model"
        )
    if not isinstance(blob.get("architecture"), dict) or not isinstance(blob.get("state_dict"), dict):
        raise FileFormatError(f"{p}: weights file lacks its architecture or state_dict")
    return blob


def load_model(
    weights: str | os.PathLike[str], kind: str, *, device: torch.device | str = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Load a network of ``kind`` (``"dncnn"`` or ``"modl"``) from ``"builtin"`` or a path.

    Returns
    -------
    (module, meta)
        The network in eval mode on ``device`` (parameters frozen) and the file's meta dict.

    Raises
    ------
    ParameterError
        The file holds another kind of network, or its tensors do not match its architecture
        (missing/unexpected keys, other shapes).
    FileFormatError
        Missing or unsafe file.
    """
    if kind not in _NETWORKS:
        raise ParameterError(f"unknown network kind {kind!r}; known: {sorted(_NETWORKS)}")
    path = resolve_weights(weights, kind)
    blob = read_weights(path)
    arch = blob["architecture"]
    if arch.get("kind") != kind:
        raise ParameterError(
            f"{path}: weights of a {arch.get('kind')!r} network, but a {kind!r} network is needed "
            f"({'pnp takes denoiser weights' if kind == 'dncnn' else 'modl takes MoDL weights'})"
        )
    model = build(arch)
    check_state_dict(model, blob["state_dict"], str(path))
    model.load_state_dict(blob["state_dict"])
    model.eval().requires_grad_(False)
    return model.to(device), dict(blob.get("meta") or {})


def check_state_dict(model: nn.Module, state: dict[str, Any], where: str) -> None:
    """Raise :class:`ParameterError` naming missing/unexpected keys or shape mismatches."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        raise ParameterError(
            f"{where}: weights do not match the {getattr(model, 'kind', type(model).__name__)} architecture "
            f"(missing {missing[:4]}{'…' if len(missing) > 4 else ''}, "
            f"unexpected {extra[:4]}{'…' if len(extra) > 4 else ''})"
        )
    bad = [
        f"{k}: file {tuple(state[k].shape)} vs network {tuple(v.shape)}"
        for k, v in own.items()
        if not isinstance(state[k], torch.Tensor) or tuple(state[k].shape) != tuple(v.shape)
    ]
    if bad:
        raise ParameterError(
            f"{where}: weights have other shapes than the architecture: {'; '.join(bad[:3])}"
        )
