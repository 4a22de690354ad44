"""npe2 sample data for the qMRI Fitting dock: simulated series of the tissue phantom.

Generated when opened (nothing shipped): 128² magnitude images, SNR 100, with the times in
the layer's series entry, so the dock pre-fills its table (see
:mod:`recon_engine.simulate.qmri_series`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["qmri_ir_series", "qmri_t2_series"]


def _layer(kind: str) -> list[tuple[Any, ...]]:
    from napari_mrrecon.layers.qmri import series_layer
    from recon_engine.qmri import QMRISeries
    from recon_engine.simulate.qmri_series import inversion_recovery_series, t2_decay_series

    sim = inversion_recovery_series() if kind == "ir" else t2_decay_series()
    label = "TI" if kind == "ir" else "TE"
    series = QMRISeries(
        data=sim.data,
        times=sim.times,
        flip_angles=None,
        tr=None,
        affine=None,
        source=f"simulated {label} series of the tissue phantom (SNR {sim.snr:g})",
    )
    name = "phantom IR series" if kind == "ir" else "phantom T2 series"
    return [series_layer(series, name, times_label=label)]


def qmri_ir_series() -> list[tuple[Any, ...]]:
    """Inversion-recovery series (8 TIs, 50–4000 ms) of the tissue phantom."""
    return _layer("ir")


def qmri_t2_series() -> list[tuple[Any, ...]]:
    """Multi-echo spin-echo series (8 TEs, 10–250 ms) of the tissue phantom."""
    return _layer("t2")
