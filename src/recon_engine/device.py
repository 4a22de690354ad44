"""Choice of the compute device."""

from __future__ import annotations

from typing import Literal

import torch

from recon_engine.errors import ParameterError

__all__ = ["DeviceLike", "resolve_device"]

DeviceLike = Literal["auto", "cpu", "cuda"] | str | torch.device


def resolve_device(device: DeviceLike = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``) into a torch device.

    Parameters
    ----------
    device
        ``"auto"`` picks CUDA when available, else the CPU.

    Returns
    -------
    torch.device

    Raises
    ------
    ParameterError
        If CUDA is requested but not available, or the name is unknown.
    """
    name = str(device) if isinstance(device, torch.device) else str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ParameterError(
                "device 'cuda' was requested but no CUDA GPU is available; use --device cpu or auto"
            )
        try:
            return torch.device(name)
        except RuntimeError as exc:
            raise ParameterError(f"unknown CUDA device {name!r}") from exc
    raise ParameterError(f"unknown device {device!r}; choose auto, cpu or cuda")
