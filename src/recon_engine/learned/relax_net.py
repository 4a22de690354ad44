"""Relaxometry-guided unrolled network: joint CG data consistency, a CNN and a signal-model step.

Every one of ``K`` unrolls (shared weights) acts on all ``n`` contrast images ``x (n, y, x)``
of a slice at once:

1. phase: ``φ`` the common phase of the contrasts (:func:`~recon_engine.qmri._raw.common_phase`,
   constant for the gradient) and ``r = x·e^{−iφ}``;
2. CNN: ``z = r − CNN(r)`` with the ``2n`` real channels (real and imaginary part of each
   contrast) of :class:`ContrastCNN`;
3. signal-model consistency: per voxel, the dictionary atom ``g`` of the model (a fine grid of
   the nonlinear parameters, closed-form linear coefficients: variable projection, the matching
   of :func:`~recon_engine.solvers.variable_projection_search`) that best explains ``Re z`` is
   found, and ``Re z`` is replaced by its re-synthesis ``S(θ_g)·ρ̂ = Q_g Q_gᵀ Re z`` (``B_g = Q_g
   R_g``; the atom index is constant for the gradient, the projection is linear in ``z``, so
   the gradient flows through it); the imaginary part, which the model does not have, goes to
   zero. The step is blended: ``m = z + β (S(θ̂)ρ̂ − z)``, ``β = σ(b)`` learned;
4. data consistency on all contrasts together: ``(AᴴA + λI) x = Aᴴy + λ m e^{iφ}`` by
   ``cg_iterations`` CG steps of one joint system (the multi-contrast SENSE normal operator
   with one mask per contrast), warm started at ``m e^{iφ}`` (:func:`batched_cg`).

``x₀`` is ``start_iterations`` steps of joint CG-SENSE from zero. The operator enters only
through ``x ↦ AᴴA x`` and ``Aᴴy``; both are normalised first (``AᴴA`` by its mean eigenvalue
from a seeded random probe, the images by ``max|x₀|``), so one network serves any noise
scaling or prewhitening of the data. With ``cnn=False`` and ``model_step=False`` an unroll is
``cg_iterations`` CG steps of regularised SENSE (tested: with ``λ → 0`` and ``x₀ = 0`` it is
joint CG-SENSE).

Training data (:func:`simulate_ir_training_batch`): inversion recovery (the 8 TIs of
:mod:`recon_engine.simulate.qmri_raw`) of random variants of the tissue phantom (rotated,
scaled, shifted, mirrored; every tissue's PD and T1 perturbed; 0–3 extra ellipses of random
T1), a smooth random phase, the birdcage coils, the per-contrast Cartesian masks of
:func:`~recon_engine.simulate.qmri_raw.contrast_masks` at R ∈ {4, 6, 8}, white complex noise.

Reference
---------
The unrolled model-guided design follows the relaxometry-guided quantitative reconstruction
idea (a physics-driven unrolled network whose iterations alternate data consistency over all
contrasts with a signal-model consistency step) and MoDL: H. K. Aggarwal, M. P. Mani, M. Jacob,
IEEE Trans. Med. Imaging 38:394–405 (2019), doi:10.1109/TMI.2018.2865356.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from recon_engine.errors import FileFormatError, ParameterError
from recon_engine.learned.modl_net import batched_cg
from recon_engine.learned.weights import WEIGHTS_DIR, check_state_dict, read_weights
from recon_engine.qmri._model import SignalModel
from recon_engine.solvers.variable_projection import variable_projection_search

__all__ = [
    "IR_TIMES_MS",
    "RELAX_WEIGHTS",
    "ContrastCNN",
    "ModelProjector",
    "RelaxNet",
    "coil_support",
    "load_relax_net",
    "normalised_problem",
    "sense_normal_batch",
    "simulate_ir_training_batch",
]

Normal = Callable[[torch.Tensor], torch.Tensor]
#: The inversion times of the simulated IR acquisition (ms): what the shipped weights saw.
IR_TIMES_MS: tuple[float, ...] = (50.0, 150.0, 300.0, 600.0, 1000.0, 1600.0, 2500.0, 4000.0)
#: Grid points of the signal-model step's dictionary (log-spaced, per nonlinear parameter).
_GRID_POINTS = 400


class ModelProjector:
    """Per-voxel projection of real contrast curves onto the best atom of a separable model.

    Parameters
    ----------
    model
        The signal model (``B(θ; x)``, ``L`` linear coefficients); models with per-voxel aux
        maps (B1) are not supported.
    x
        ``(n,)`` sampling values (ms or deg).
    options
        Resolved model options.
    grid
        ``(G, K)`` grid of the nonlinear parameters; default: :data:`_GRID_POINTS` log-spaced
        values between the model's own grid's extremes (one nonlinear parameter), else the
        model's grid.
    """

    def __init__(
        self,
        model: SignalModel,
        x: np.ndarray | torch.Tensor,
        options: Mapping[str, object],
        grid: torch.Tensor | None = None,
    ) -> None:
        if model.aux:
            raise ParameterError(
                f"the unrolled network's model step does not support model {model.info.name!r} "
                f"(it needs per-voxel maps {model.aux})"
            )
        if grid is None:
            base = model.grid(options).to(torch.float64)
            if base.shape[1] == 1:
                lo, hi = float(base.min()), float(base.max())
                grid = torch.logspace(math.log10(lo), math.log10(hi), _GRID_POINTS, dtype=torch.float64)[
                    :, None
                ]
            else:
                grid = base
        self.model = model
        self.grid = grid.to(torch.float64)
        xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
        self.x = xt
        self.bases = model.basis(self.grid, xt, options, {}).to(torch.float64)  # (G, n, L)
        q, _ = torch.linalg.qr(self.bases)
        self.q = q.to(torch.float32)  # (G, n, L) orthonormal columns per atom
        self._bases32 = self.bases.to(torch.float32)

    @property
    def n(self) -> int:
        """Number of contrasts."""
        return int(self.bases.shape[1])

    def match(self, signals: torch.Tensor) -> torch.Tensor:
        """``(V,)`` int64 best atom of real signals ``(V, n)`` (no gradient)."""
        with torch.no_grad():
            index, _, _ = variable_projection_search(
                signals.detach().to(torch.float32), self._bases32.to(signals.device)
            )
        return index

    def project(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Re-synthesis ``Q_g Q_gᵀ r`` of real images ``(B, n, y, x)`` and the atom index ``(B, y, x)``.

        Differentiable in ``real`` (the index is constant).
        """
        b, n, ny, nx = real.shape
        v = real.permute(0, 2, 3, 1).reshape(-1, n)  # (V, n)
        index = self.match(v)
        q = self.q.to(real.device)[index]  # (V, n, L)
        coef = torch.einsum("vnl,vn->vl", q, v)
        out = torch.einsum("vnl,vl->vn", q, coef)
        return out.reshape(b, ny, nx, n).permute(0, 3, 1, 2), index.reshape(b, ny, nx)

    def parameters_of(self, index: torch.Tensor) -> torch.Tensor:
        """The nonlinear parameters ``(…, K)`` of atom indices ``(…)``."""
        return self.grid.to(index.device)[index].to(torch.float32)


class ContrastCNN(nn.Module):
    """A residual CNN on ``n`` complex contrasts as ``2n`` real channels (no batch norm).

    Parameters
    ----------
    n_contrasts
        ``n`` (≥ 1).
    features, depth
        Hidden channels and number of 3 × 3 convolutions (≥ 2); ReLU between.
    """

    def __init__(self, n_contrasts: int, features: int = 32, depth: int = 5) -> None:
        super().__init__()
        if int(n_contrasts) < 1 or int(features) < 1 or int(depth) < 2:
            raise ParameterError(
                f"ContrastCNN needs contrasts ≥ 1, features ≥ 1 and depth ≥ 2, got {n_contrasts}, "
                f"{features}, {depth}"
            )
        ch = 2 * int(n_contrasts)
        layers: list[nn.Module] = [nn.Conv2d(ch, int(features), 3, padding=1)]
        for _ in range(int(depth) - 2):
            layers += [nn.ReLU(inplace=True), nn.Conv2d(int(features), int(features), 3, padding=1)]
        layers += [nn.ReLU(inplace=True), nn.Conv2d(int(features), ch, 3, padding=1)]
        self.body = nn.Sequential(*layers)
        last = self.body[-1]
        assert isinstance(last, nn.Conv2d)
        with torch.no_grad():  # starts close to the identity
            last.weight.mul_(0.1)
            if last.bias is not None:
                last.bias.zero_()

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """``r − CNN(r)`` for complex ``(B, n, y, x)``."""
        ch = torch.cat((r.real, r.imag), 1)
        out = ch - self.body(ch)
        n = r.shape[1]
        return torch.complex(out[:, :n], out[:, n:])


def _probe_gain(normal: Normal, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """``⟨u, N u⟩/⟨u, u⟩`` per sample ``(B, 1, 1, 1)`` for a seeded random ``u`` (the mean eigenvalue)."""
    g = torch.Generator().manual_seed(7)
    u = torch.randn(shape, generator=g, dtype=torch.complex64).to(device)
    num = (u.conj() * normal(u)).real.sum(dim=(1, 2, 3), keepdim=True)
    return num / u.abs().square().sum(dim=(1, 2, 3), keepdim=True)


def _joint_cg(normal: Normal, rhs: torch.Tensor, x0: torch.Tensor, iterations: int) -> torch.Tensor:
    """:func:`batched_cg` with the contrasts of each sample as one system: ``(B, n, y, x)``."""
    b, n, ny, nx = rhs.shape

    def flat(v: torch.Tensor) -> torch.Tensor:
        return normal(v.reshape(b, n, ny, nx)).reshape(b, n * ny, nx)

    out = batched_cg(flat, rhs.reshape(b, n * ny, nx), x0.reshape(b, n * ny, nx), iterations)
    return out.reshape(b, n, ny, nx)


def normalised_problem(
    normal: Normal, rhs: torch.Tensor, start_iterations: int
) -> tuple[Normal, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The problem in the network's units.

    Parameters
    ----------
    normal
        ``x ↦ AᴴA x`` on complex ``(B, n, y, x)``.
    rhs
        ``Aᴴy`` ``(B, n, y, x)``.
    start_iterations
        Joint CG-SENSE steps of the start ``x₀`` (0: ``x₀ = 0``).

    Returns
    -------
    (normal', rhs', x0', scale)
        ``AᴴA / g`` (``g`` the mean eigenvalue per sample), ``Aᴴy / (g·s)``, ``x₀ / s`` and
        ``s (B, 1, 1, 1)`` = ``max|x₀|`` per sample (1 when ``x₀ = 0``; the images in physical
        units are the network's output times ``s``).
    """
    with torch.no_grad():
        gain = _probe_gain(normal, tuple(rhs.shape), rhs.device).clamp_min(1e-30)

    def scaled(v: torch.Tensor) -> torch.Tensor:
        return normal(v) / gain

    b = rhs / gain
    x0 = (
        _joint_cg(scaled, b, torch.zeros_like(b), start_iterations)
        if start_iterations > 0
        else torch.zeros_like(b)
    )
    if start_iterations > 0:
        scale = x0.detach().abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-30)
    else:
        scale = torch.ones((rhs.shape[0], 1, 1, 1), device=rhs.device)
    return scaled, b / scale, x0 / scale, scale


def _phase(x: torch.Tensor, polarity: bool, ref: int) -> torch.Tensor:
    """Common phase ``(B, 1, y, x)``, constant for the gradient (as ``qmri._raw.common_phase``)."""
    with torch.no_grad():
        if polarity:
            ph = torch.angle(x[:, ref : ref + 1])
        else:
            idx = x.abs().argmax(1, keepdim=True)
            ph = torch.angle(x.gather(1, idx))
    return ph


class RelaxNet(nn.Module):
    """The relaxometry-guided unrolled network (see the module docstring).

    Parameters
    ----------
    n_contrasts
        ``n`` contrasts (the CNN's channels are ``2n``).
    features, depth
        Of :class:`ContrastCNN`.
    unrolls
        ``K`` (≥ 1).
    cg_iterations
        CG steps of each data-consistency block (≥ 1).
    start_iterations
        Joint CG-SENSE steps of ``x₀`` (≥ 0).
    initial_lambda
        Start of the learned ``λ`` (> 0; the normal operator has mean eigenvalue 1).
    initial_blend
        Start of the learned model-step weight ``β`` in (0, 1).
    cnn, model_step
        Switch the CNN / the signal-model step off (identity), e.g. for ablations and tests.
    """

    kind = "relax"

    def __init__(
        self,
        n_contrasts: int = 8,
        features: int = 32,
        depth: int = 5,
        unrolls: int = 5,
        cg_iterations: int = 6,
        start_iterations: int = 8,
        initial_lambda: float = 0.1,
        initial_blend: float = 0.5,
        cnn: bool = True,
        model_step: bool = True,
    ) -> None:
        super().__init__()
        if int(unrolls) < 1 or int(cg_iterations) < 1 or int(start_iterations) < 0:
            raise ParameterError(
                f"RelaxNet needs unrolls ≥ 1, cg_iterations ≥ 1, start_iterations ≥ 0; got {unrolls}, "
                f"{cg_iterations}, {start_iterations}"
            )
        if not initial_lambda > 0 or not 0 < initial_blend < 1:
            raise ParameterError(f"RelaxNet needs λ > 0 and 0 < β < 1, got {initial_lambda}, {initial_blend}")
        self.n_contrasts = int(n_contrasts)
        self.features, self.depth = int(features), int(depth)
        self.cnn = ContrastCNN(self.n_contrasts, self.features, self.depth)
        self.unrolls, self.cg_iterations = int(unrolls), int(cg_iterations)
        self.start_iterations = int(start_iterations)
        self.initial_lambda, self.initial_blend = float(initial_lambda), float(initial_blend)
        self.use_cnn, self.use_model = bool(cnn), bool(model_step)
        self.log_lambda = nn.Parameter(torch.tensor(math.log(initial_lambda), dtype=torch.float32))
        b = float(initial_blend)
        self.blend_logit = nn.Parameter(torch.tensor(math.log(b / (1 - b)), dtype=torch.float32))

    @property
    def architecture(self) -> dict[str, Any]:
        """Constructor arguments and the kind, as stored in a weights file."""
        return {
            "kind": self.kind,
            "n_contrasts": self.n_contrasts,
            "features": self.features,
            "depth": self.depth,
            "unrolls": self.unrolls,
            "cg_iterations": self.cg_iterations,
            "start_iterations": self.start_iterations,
            "initial_lambda": self.initial_lambda,
            "initial_blend": self.initial_blend,
            "cnn": self.use_cnn,
            "model_step": self.use_model,
        }

    @property
    def lam(self) -> torch.Tensor:
        """The learned ``λ``."""
        return self.log_lambda.exp()

    @property
    def blend(self) -> torch.Tensor:
        """The learned model-step weight ``β``."""
        return torch.sigmoid(self.blend_logit)

    def iterate(
        self,
        normal: Normal,
        rhs: torch.Tensor,
        projector: ModelProjector,
        support: torch.Tensor | None = None,
    ) -> Generator[tuple[int, torch.Tensor, torch.Tensor | None], None, torch.Tensor]:
        """The unrolls as a generator: yields ``(k, x_k, atom index (B, y, x) or None)``, returns ``x_K``.

        ``x_k`` are in the units of ``rhs``'s images (the scale restored); see :meth:`forward`.
        """
        if rhs.ndim != 4 or rhs.shape[1] != self.n_contrasts:
            raise ParameterError(
                f"this network was built for {self.n_contrasts} contrasts; got images of shape "
                f"{tuple(rhs.shape)}"
            )
        if projector.n != self.n_contrasts:
            raise ParameterError(
                f"the model step has {projector.n} contrasts, the network {self.n_contrasts}"
            )
        nrm, b, x, scale = normalised_problem(normal, rhs, self.start_iterations)
        lam = self.lam.to(rhs.device)
        beta = self.blend.to(rhs.device)
        ref = int(torch.argmax(projector.x)) if projector.model.polarity else 0

        def dc(v: torch.Tensor) -> torch.Tensor:
            return nrm(v) + lam * v

        for k in range(self.unrolls):
            ph = _phase(x, projector.model.polarity, ref)
            rot = torch.exp(1j * ph)
            r = x * rot.conj()
            z = self.cnn(r) if self.use_cnn else r
            index = None
            if self.use_model:
                synth, index = projector.project(z.real)
                z = z + beta * (synth.to(z.dtype) - z)
            m = z * rot
            if support is not None:  # the CNN must not fill the null space of AᴴA (no coil signal)
                m = m * support
            x = _joint_cg(dc, b + lam * m, m, self.cg_iterations)
            yield k + 1, x * scale, index
        return x * scale

    def forward(
        self,
        normal: Normal,
        rhs: torch.Tensor,
        projector: ModelProjector,
        *,
        callback: Callable[[int, torch.Tensor, torch.Tensor | None], None] | None = None,
        support: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Reconstruct the contrasts.

        Parameters
        ----------
        normal
            ``x ↦ AᴴA x`` on complex ``(B, n, y, x)`` (any scaling).
        rhs
            ``Aᴴy`` complex ``(B, n, y, x)``.
        projector
            The signal-model step's dictionary (``projector.n`` = ``n``).
        callback
            ``(k, x_k (B, n, y, x), atom index (B, y, x) or None)`` after every unroll.
        support
            Optional real ``(B, 1, y, x)`` mask (1 where the coils see signal): the CNN and model
            step outputs are multiplied by it, so voxels outside the coil maps' support (the null
            space of ``AᴴA``, which CG cannot correct) stay 0 (see :func:`coil_support`).

        Returns
        -------
        torch.Tensor
            complex64 ``(B, n, y, x)`` in the units of ``rhs``'s images (the scale restored).
        """
        gen = self.iterate(normal, rhs, projector, support)
        while True:
            try:
                k, x, index = next(gen)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            if callback is not None:
                callback(k, x.detach(), index)


def coil_support(normal: Normal, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """``(B, 1, y, x)`` float mask of the voxels that the encoding sees (``AᴴA·1 ≠ 0`` in any contrast).

    Coil maps that are exactly zero outside the object (ESPIRiT's support) make ``AᴴA`` vanish
    there; with maps that cover the FOV (birdcage) the mask is all ones.
    """
    with torch.no_grad():
        resp = normal(torch.ones(shape, dtype=torch.complex64, device=device)).abs().sum(1, keepdim=True)
        peak = resp.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-30)
    return (resp > 1e-6 * peak).to(torch.float32)


#: The shipped weights of :class:`RelaxNet` (trained by ``scripts/train_relax_net.py``).
RELAX_WEIGHTS = WEIGHTS_DIR / "relax.pt"


def load_relax_net(
    weights: str | os.PathLike[str] = "builtin", *, device: torch.device | str = "cpu"
) -> tuple[RelaxNet, dict[str, Any]]:
    """Load a :class:`RelaxNet` from ``"builtin"`` (:data:`RELAX_WEIGHTS`) or a weights file.

    Read with ``torch.load(..., weights_only=True)`` (:func:`~recon_engine.learned.weights.read_weights`).

    Returns
    -------
    (network, meta)
        In eval mode on ``device``, parameters frozen; ``meta`` of the file (model, times, training).

    Raises
    ------
    ParameterError
        The file holds another kind of network, or tensors that do not fit its architecture.
    FileFormatError
        Missing or unsafe file.
    """
    path = RELAX_WEIGHTS if str(weights) == "builtin" else Path(weights).expanduser()
    if not path.is_file():
        raise FileFormatError(
            f"{path}: no such weights file"
            + (" (the built-in relax.pt is missing)" if str(weights) == "builtin" else "")
        )
    blob = read_weights(path)
    arch = dict(blob["architecture"])
    if arch.get("kind") != RelaxNet.kind:
        raise ParameterError(
            f"{path}: weights of a {arch.get('kind')!r} network, but the unrolled qMRI method needs "
            f"{RelaxNet.kind!r} weights (train them with scripts/train_relax_net.py)"
        )
    arch.pop("kind")
    try:
        net = RelaxNet(**arch)
    except TypeError as exc:
        raise ParameterError(
            f"{path}: architecture {blob['architecture']} does not fit RelaxNet: {exc}"
        ) from exc
    check_state_dict(net, blob["state_dict"], str(path))
    net.load_state_dict(blob["state_dict"])
    net.eval().requires_grad_(False)
    return net.to(device), dict(blob.get("meta") or {})


# ---------------------------------------------------------------- training data


def sense_normal_batch(coils: torch.Tensor, masks: torch.Tensor) -> Normal:
    """``AᴴA`` of Cartesian multi-coil, multi-contrast encodings (centred orthonormal FFT).

    Parameters
    ----------
    coils
        complex ``(C, y, x)``.
    masks
        bool/float ``(B, n, y)`` (the sampled ``k1`` lines of each contrast).
    """
    m = masks.to(torch.float32)[:, :, None, :, None]  # (B, n, 1, y, 1)
    s = coils[None, None]

    def normal(x: torch.Tensor) -> torch.Tensor:
        k = _fft(x[:, :, None] * s) * m
        return (_ifft(k) * s.conj()).sum(2)

    return normal


def _fft(x: torch.Tensor) -> torch.Tensor:
    return torch.fft.fftshift(
        torch.fft.fft2(torch.fft.ifftshift(x, dim=(-2, -1)), norm="ortho"), dim=(-2, -1)
    )


def _ifft(x: torch.Tensor) -> torch.Tensor:
    return torch.fft.fftshift(
        torch.fft.ifft2(torch.fft.ifftshift(x, dim=(-2, -1)), norm="ortho"), dim=(-2, -1)
    )


@dataclass
class IRBatch:
    """A simulated IR training batch.

    Attributes
    ----------
    truth
        complex64 ``(B, n, y, x)`` noise-free contrasts (with their phase).
    rhs
        ``Aᴴy`` ``(B, n, y, x)``.
    normal
        ``AᴴA``.
    t1
        float32 ``(B, y, x)`` true T1 (ms; 0 outside the head).
    head
        bool ``(B, y, x)``.
    acceleration
        ``(B,)`` R of each sample.
    """

    truth: torch.Tensor
    rhs: torch.Tensor
    normal: Normal
    t1: torch.Tensor
    head: torch.Tensor
    acceleration: list[int]


def _phantom_variant(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PD, T1 (ms) and the head mask of a random variant of the tissue phantom ``(size, size)``."""
    from scipy.ndimage import affine_transform

    from recon_engine.simulate.phantom import TISSUES, tissue_maps

    big = 2 * size
    labels = tissue_maps(big)["labels"]
    ang = rng.uniform(-np.pi, np.pi)
    sc = rng.uniform(0.8, 1.15)
    flip = rng.random() < 0.5
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]]) / sc
    if flip:
        rot = rot @ np.diag([1.0, -1.0])
    centre = (big - 1) / 2
    shift = rng.uniform(-0.08, 0.08, 2) * big
    offset = centre - rot @ (np.array([centre, centre]) + shift)
    lab = affine_transform(labels, rot, offset=offset, order=0, output_shape=(big, big), mode="constant")
    lab = lab[::2, ::2].astype(np.int64)
    table = np.array([TISSUES[k] for k in TISSUES], dtype=np.float64)  # (tissues, 3): pd, t1, t2
    pd_t = table[:, 0] * rng.uniform(0.85, 1.15, len(table))
    t1_t = table[:, 1] * np.exp(rng.uniform(-0.25, 0.25, len(table)))
    pd, t1 = pd_t[lab], t1_t[lab]
    yy, xx = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    head = lab > 0
    for _ in range(int(rng.integers(0, 4))):  # extra ellipses inside the head
        cy, cx = rng.uniform(-0.5, 0.5, 2)
        a, b = rng.uniform(0.05, 0.2, 2)
        th = rng.uniform(0, np.pi)
        u = (xx - cx) * np.cos(th) + (yy - cy) * np.sin(th)
        w = -(xx - cx) * np.sin(th) + (yy - cy) * np.cos(th)
        inside = ((u / a) ** 2 + (w / b) ** 2 <= 1) & head
        pd[inside] = rng.uniform(0.6, 1.0)
        t1[inside] = float(np.exp(rng.uniform(np.log(300.0), np.log(4500.0))))
    pd[~head], t1[~head] = 0.0, 0.0
    return pd, t1, head


def simulate_ir_training_batch(
    rng: np.random.Generator,
    batch: int,
    size: int,
    *,
    accelerations: tuple[int, ...] = (4, 6, 8),
    noise_range: tuple[float, float] = (0.001, 0.006),
    n_coils: int = 8,
    calibration_lines: int = 8,
    times: tuple[float, ...] = IR_TIMES_MS,
) -> IRBatch:
    """Simulated undersampled multi-coil IR data of random phantom variants (see the module docstring).

    The noise SD is drawn log-uniformly from ``noise_range`` (complex SD per k-space sample, PD = 1
    images and an orthonormal FFT, as :func:`~recon_engine.simulate.qmri_raw.simulate_qmri_raw`).
    """
    from recon_engine.learned.data import random_smooth_phase
    from recon_engine.simulate.coils import birdcage_sensitivities
    from recon_engine.simulate.qmri_raw import contrast_masks

    ti = np.asarray(times, dtype=np.float64)
    coils = torch.as_tensor(birdcage_sensitivities(n_coils, (size, size))).to(torch.complex64)
    truth, t1s, heads, masks, accs = [], [], [], [], []
    for _ in range(batch):
        pd, t1, head = _phantom_variant(rng, size)
        safe = np.where(t1 > 0, t1, 1000.0)
        real = pd * (1.0 - 2.0 * np.exp(-ti[:, None, None] / safe))
        ph = np.exp(1j * random_smooth_phase(rng, size, np.pi))
        truth.append(torch.as_tensor((real * ph).astype(np.complex64)))
        t1s.append(torch.as_tensor(t1.astype(np.float32)))
        heads.append(torch.as_tensor(head))
        r = int(rng.choice(accelerations))
        accs.append(r)
        masks.append(torch.as_tensor(contrast_masks(ti.size, size, r, calibration_lines)))
    x = torch.stack(truth)
    m = torch.stack(masks)
    normal = sense_normal_batch(coils, m)
    sigma = np.exp(rng.uniform(np.log(noise_range[0]), np.log(noise_range[1]), batch))
    shape = (batch, ti.size, n_coils, size, size)
    noise = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)
    noise *= sigma[:, None, None, None, None]
    mk = m.to(torch.float32)[:, :, None, :, None]
    data = (_fft(x[:, :, None] * coils[None, None]) + torch.as_tensor(noise.astype(np.complex64))) * mk
    rhs = (_ifft(data) * coils[None, None].conj()).sum(2)
    return IRBatch(x, rhs, normal, torch.stack(t1s), torch.stack(heads), accs)
