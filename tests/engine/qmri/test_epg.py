"""EPG simulator against closed forms and an independent isochromat (Bloch) simulation.

Thresholds: closed forms (CPMG with 180° refocusing = exp(−TE/T2); ideally spoiled GRE steady
state = Ernst formula) to 1e-12 in float64; FISP and CPMG with 150° refocusing against 360
isochromats evenly dephased by 2π per gradient (which EPG represents exactly) to 1e-10.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from recon_engine.qmri.epg import epg_cpmg, epg_fisp

F64 = torch.float64


def _rot(m: np.ndarray, alpha: float, axis: str) -> np.ndarray:
    c, s = math.cos(alpha), math.sin(alpha)
    x, y, z = m[:, 0].copy(), m[:, 1].copy(), m[:, 2].copy()
    if axis == "y":
        m[:, 0], m[:, 2] = c * x + s * z, -s * x + c * z
    else:  # x
        m[:, 1], m[:, 2] = c * y - s * z, s * y + c * z
    return m


def _precess(m: np.ndarray, phase: np.ndarray) -> np.ndarray:
    x, y = m[:, 0].copy(), m[:, 1].copy()
    m[:, 0], m[:, 1] = np.cos(phase) * x - np.sin(phase) * y, np.sin(phase) * x + np.cos(phase) * y
    return m


def _relax(m: np.ndarray, tau: float, t1: float, t2: float, recover: bool) -> np.ndarray:
    e1, e2 = math.exp(-tau / t1), math.exp(-tau / t2)
    m[:, :2] *= e2
    m[:, 2] = m[:, 2] * e1 + ((1 - e1) if recover else 0.0)
    return m


PHASES = np.linspace(0, 2 * np.pi, 360, endpoint=False)


def test_cpmg_perfect_refocusing_is_exponential() -> None:
    """180° refocusing: echo j = exp(−j·ESP/T2) for any T1 (batched over T2)."""
    t2 = torch.tensor([20.0, 50.0, 120.0, 400.0], dtype=F64)
    echoes = epg_cpmg(t2, n_echoes=12, echo_spacing=8.0, t1=900.0)
    te = 8.0 * torch.arange(1, 13, dtype=F64)
    torch.testing.assert_close(echoes, torch.exp(-te / t2[:, None]), rtol=0, atol=1e-12)


def test_spoiled_gre_steady_state_is_ernst() -> None:
    """Ideal spoiling: steady state = M0 sin α (1 − E1)/(1 − E1 cos α)·exp(−TE/T2), B1-scaled α."""
    t1 = torch.tensor([300.0, 1000.0, 2500.0], dtype=F64)
    for fa, b1 in [(5.0, 1.0), (30.0, 0.8), (70.0, 1.1)]:
        s = epg_fisp(t1, 60.0, flip_angles=[fa] * 6000, tr=12.0, te=3.0, b1=b1, spoiling="ideal", n_states=2)[
            :, -1
        ]
        a = math.radians(fa * b1)
        e1 = torch.exp(-12.0 / t1)
        ernst = math.sin(a) * (1 - e1) / (1 - e1 * math.cos(a)) * math.exp(-3.0 / 60.0)
        torch.testing.assert_close(s, ernst, rtol=1e-12, atol=1e-12)


def test_fisp_matches_isochromats() -> None:
    """Varying flip angles with inversion: EPG FISP = mean of 360 isochromats (Bloch), to 1e-10."""
    t1, t2, tr, ti = 800.0, 70.0, 10.0, 20.0
    fas = 10 + 50 * np.abs(np.sin(np.arange(120) / 15))
    m = np.zeros((PHASES.size, 3))
    m[:, 2] = -1.0
    m = _relax(m, ti, t1, t2, recover=True)
    ref = []
    for fa in fas:
        m = _rot(m, math.radians(fa), "y")
        ref.append(m[:, 0].mean() + 1j * m[:, 1].mean())
        m = _precess(_relax(m, tr, t1, t2, recover=True), PHASES)
    ours = epg_fisp(torch.tensor(t1, dtype=F64), t2, flip_angles=fas, tr=tr, inversion_time=ti).numpy()
    np.testing.assert_allclose(ours, np.real(ref), atol=1e-10)
    assert np.abs(np.imag(ref)).max() < 1e-10


def test_cpmg_stimulated_echoes_match_isochromats() -> None:
    """150° refocusing with B1 = 0.9: EPG CPMG = |mean isochromat| (no T1 recovery), to 1e-10."""
    t1, t2, esp, b1 = 1000.0, 60.0, 10.0, 0.9
    m = np.zeros((PHASES.size, 3))
    m[:, 2] = 1.0
    m = _rot(m, math.radians(90 * b1), "x")
    ref = []
    for _ in range(10):
        m = _precess(_relax(m, esp / 2, t1, t2, recover=False), PHASES)
        m = _rot(m, math.radians(150 * b1), "y")
        m = _precess(_relax(m, esp / 2, t1, t2, recover=False), PHASES)
        ref.append(abs(m[:, 0].mean() + 1j * m[:, 1].mean()))
    ours = epg_cpmg(
        torch.tensor(t2, dtype=F64), n_echoes=10, echo_spacing=esp, t1=t1, b1=b1, refocusing_angle=150
    )
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-10)
    assert ours[0] < ours[1]  # the stimulated echo makes echo 2 brighter than echo 1


def test_epg_is_differentiable() -> None:
    """Autograd through EPG agrees with finite differences (gradcheck, float64)."""
    fas = torch.tensor([20.0, 40.0, 60.0, 30.0, 10.0], dtype=F64)

    def fisp(t1: torch.Tensor, t2: torch.Tensor) -> torch.Tensor:
        return epg_fisp(t1, t2, flip_angles=fas, tr=8.0, te=2.0, inversion_time=15.0)

    def cpmg(t2: torch.Tensor, b1: torch.Tensor) -> torch.Tensor:
        return epg_cpmg(t2, n_echoes=5, echo_spacing=9.0, b1=b1, refocusing_angle=160.0)

    t1 = torch.tensor([700.0, 1500.0], dtype=F64, requires_grad=True)
    t2 = torch.tensor([50.0, 90.0], dtype=F64, requires_grad=True)
    b1 = torch.tensor([0.9, 1.05], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(fisp, (t1, t2))
    assert torch.autograd.gradcheck(cpmg, (t2, b1))


def test_batch_shapes_and_truncation() -> None:
    """(z, y)-shaped parameters give (z, y, n); truncating states changes FISP only slightly."""
    t1 = torch.full((2, 3), 1000.0)
    out = epg_fisp(t1, 80.0, flip_angles=torch.linspace(5, 60, 50), tr=10.0)
    assert out.shape == (2, 3, 50) and out.dtype == torch.float32
    trunc = epg_fisp(t1, 80.0, flip_angles=torch.linspace(5, 60, 50), tr=10.0, n_states=25)
    assert (out - trunc).abs().max() < 0.02
