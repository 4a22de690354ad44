"""The result of a voxel-wise fit: maps, units, CRLB SD, mask, and per-voxel curves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from recon_engine.qmri._voxelfit import VoxelFit, linear_names
from recon_engine.qmri.models import get_model

__all__ = ["FitResult", "assemble"]


@dataclass
class FitResult:
    """Parameter maps of a voxel-wise fit.

    Attributes
    ----------
    model
        Model name (see :data:`~recon_engine.qmri.MODEL_NAMES`).
    maps
        Name → float32 map (spatial shape ``(y, x)`` or ``(z, y, x)``): the model parameters
        plus ``"r2"`` (coefficient of determination) and ``"residual"`` (RMS residual, a.u.);
        NaN outside the mask.
    units
        Map name → unit.
    sd
        Name → Cramér–Rao standard deviation map (same units); empty when ``n ≤`` parameters.
    mask
        bool, spatial: the voxels fitted.
    times
        ``(n,)`` sampling values as used (ms, or degrees for VFA/MRF).
    options
        Model options as used (``signed`` resolved for IR/MOLLI).
    observed_data
        ``(n, *spatial)`` float32: the data the fit saw (polarity-restored for IR), NaN outside.
    magnitude
        True when the data were magnitudes (the curve is then ``|S|``).
    aux
        Per-voxel maps used by the model (e.g. ``"b1"``).
    """

    model: str
    maps: dict[str, np.ndarray]
    units: dict[str, str]
    sd: dict[str, np.ndarray]
    mask: np.ndarray
    times: np.ndarray
    options: dict[str, object]
    observed_data: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.float32))
    magnitude: bool = False
    aux: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    def observed(self, index: tuple[int, ...]) -> np.ndarray:
        """``(n,)`` data the fit saw at one voxel (``index`` into the spatial shape)."""
        key: tuple[Any, ...] = (slice(None), *tuple(index))
        return np.asarray(self.observed_data[key], dtype=np.float64)

    def curve(self, index: tuple[int, ...], times: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Fitted signal of one voxel.

        Parameters
        ----------
        index
            Index into the spatial shape.
        times
            Sampling values (ms or deg) to evaluate at; default 200 points spanning the
            measured ones (MRF: the measured frames).

        Returns
        -------
        tuple[np.ndarray, np.ndarray]
            ``(times, signal)`` float64; NaN outside the mask.
        """
        spec = get_model(self.model)
        idx = tuple(index)
        if times is None:
            t = self.times if spec.dictionary_only else np.linspace(self.times.min(), self.times.max(), 200)
        else:
            t = np.asarray(times, dtype=np.float64).reshape(-1)
        if not self.mask[idx]:
            return t, np.full(t.shape, np.nan)
        theta = torch.tensor([[float(self.maps[k][idx]) for k in spec.nonlinear]], dtype=torch.float64)
        coef = torch.tensor(
            [float(self.maps[k][idx]) for k in linear_names(spec, self.options)], dtype=torch.float64
        )
        aux = {k: torch.tensor([float(v[idx])], dtype=torch.float64) for k, v in self.aux.items()}
        tt = torch.as_tensor(t if not spec.dictionary_only else self.times, dtype=torch.float64)
        s = (spec.basis(theta, tt, self.options, aux)[0] @ coef).numpy()
        if spec.dictionary_only:
            return np.arange(s.size, dtype=np.float64), s
        return t, np.abs(s) if self.magnitude else s


def assemble(
    name: str,
    parts: list[VoxelFit],
    keep: np.ndarray,
    spatial: tuple[int, ...],
    x: np.ndarray,
    opts: dict[str, object],
    aux: dict[str, np.ndarray],
    magnitude: bool,
) -> FitResult:
    """Scatter the per-voxel results of all chunks into spatial maps (NaN outside ``keep``)."""
    spec = get_model(name)

    def scatter(chunks: list[torch.Tensor], lead: int | None = None) -> np.ndarray:
        vals = torch.cat(chunks).detach().cpu().numpy().astype(np.float32)
        if lead is None:
            out = np.full(keep.shape, np.nan, np.float32)
            out[keep] = vals
            return out.reshape(spatial)
        out2 = np.full((lead, keep.size), np.nan, np.float32)
        out2[:, keep] = vals.T
        return out2.reshape((lead, *spatial))

    names = list(parts[0].values)
    maps = {k: scatter([p.values[k] for p in parts]) for k in names}
    maps["r2"] = scatter([p.r2 for p in parts])
    maps["residual"] = scatter([p.residual for p in parts])
    sd = {k: scatter([p.sd[k] for p in parts]) for k in parts[0].sd}
    units = {k: spec.info.units.get(k, "a.u.") for k in names}
    units.update({"r2": "", "residual": "a.u."})
    observed = scatter([p.observed for p in parts], lead=x.size)
    return FitResult(
        model=name,
        maps=maps,
        units=units,
        sd=sd,
        mask=keep.reshape(spatial),
        times=x.copy(),
        options=opts,
        observed_data=observed,
        magnitude=magnitude,
        aux=aux,
    )
