"""npe2 sample data for the qMRI Fitting dock: simulated series and raw data of the tissue phantom.

Generated when opened (nothing shipped):

- series: 128² magnitude images, SNR 100, with the times in the layer's series entry, so the
  dock pre-fills its table (see :mod:`recon_engine.simulate.qmri_series`);
- raw data: undersampled multi-coil multi-contrast k-space (64², 8 coils, R = 4, per-contrast
  masks; :func:`recon_engine.simulate.sample_data.qmri_raw_sample`) as a k-space layer, for
  the model-based, subspace and PnP methods (TIs/TEs in the raw header);
- MR fingerprinting raw data: FISP, 300 frames, one golden-angle radial spoke per frame (64²,
  8 coils; flip angles, TR and TI in the raw header), for the gridding, subspace and PnP methods.
"""

from __future__ import annotations

from typing import Any

__all__ = ["qmri_ir_raw", "qmri_ir_series", "qmri_mese_raw", "qmri_mrf_raw", "qmri_t2_series"]


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


def _raw(kind: str, name: str) -> list[tuple[Any, ...]]:
    from napari_mrrecon.io.reader import raw_layer
    from recon_engine.simulate.sample_data import qmri_raw_sample

    return [raw_layer(qmri_raw_sample(kind).kspace, name)]


def qmri_ir_raw() -> list[tuple[Any, ...]]:
    """Undersampled raw inversion recovery (8 TIs, 64², 8 coils, R = 4), as a k-space layer."""
    return _raw("ir", "phantom IR raw R4")


def qmri_mese_raw() -> list[tuple[Any, ...]]:
    """Undersampled raw multi-echo spin echo (12 TEs, 64², 8 coils, R = 4), as a k-space layer."""
    return _raw("mese", "phantom MESE raw R4")


def qmri_mrf_raw() -> list[tuple[Any, ...]]:
    """MR fingerprinting raw data (FISP, 300 frames, one golden-angle radial spoke each, 64², 8 coils)."""
    return _raw("mrf", "phantom MRF raw radial")
