"""SENSE, TV and wavelet CS on real 16-coil Cima.X data, retrospectively undersampled at R = 2, 3, 4.

Data: ``pulseq_mr_physics_course/04_hardware_and_imprefections/data`` (see its PROVENANCE):
2D FLASH, 128 × 128, 16-channel local coil, one slice, fully sampled, no noise scan;
phantom ``2024-02-06-160052.dat`` and in vivo ``2024-02-06-164128.dat``. Undersampling as in
``test_grappa.py``: every R-th ``k1`` line through the centre plus 24 central ACS lines.

Coil maps: ESPIRiT (defaults: 6-sample kernel, 24-sample calibration) estimated once per
dataset from the fully sampled centre, which is exactly the 24 × 24 block the ACS lines give
(the same maps as from the undersampled data). Reference: SENSE (10 CG iterations) of the
fully sampled data with the same maps. ``NRMSE = ‖|x| − |x_ref|‖ / ‖x_ref‖`` over the FOV;
zero-filled: ``Aᴴy`` after the least-squares intensity scale. SENSE 10 CG iterations, TV and
wavelet 15 iterations at their default λ (1e-3, relative; wavelet: db2 with random grid
shifts). Measured (CPU, torch 2.13):

==========  =====  =========  ======  ======  ========
dataset     R      zero-fill  SENSE   TV      wavelet
==========  =====  =========  ======  ======  ========
phantom     2      0.0546     0.0130  0.0127  0.0124
phantom     3      0.0734     0.0202  0.0178  0.0177
phantom     4      0.0829     0.0315  0.0224  0.0222
in vivo     2      0.0918     0.0250  0.0250  0.0246
in vivo     3      0.1210     0.0407  0.0377  0.0385
in vivo     4      0.1359     0.0742  0.0606  0.0666
==========  =====  =========  ======  ======  ========

Thresholds (:data:`LIMITS`) are about 1.5 × these values, and every method must beat the
zero-filled image by at least a factor 1.5. The test runs torch single-threaded: on the shared
2-core machine under load, 2 OpenMP threads made one TV run 26 s instead of 1.5 s.
"""

from __future__ import annotations

import numpy as np
import pytest

import recon_engine as mr
from recon_engine import metrics
from recon_engine.calibration.coil_maps import estimate_coil_maps
from recon_engine.data.kspace import KSpace
from recon_engine.progress import run
from recon_engine.reconstructions import sense_steps, tv_steps, wavelet_steps
from tests.conftest import shared_data
from tests.engine.reconstructions.test_grappa import undersample

CIMA = {"phantom": "2024-02-06-160052.dat", "in vivo": "2024-02-06-164128.dat"}

#: NRMSE thresholds (dataset, R) → (SENSE, TV, wavelet), ≈ 1.5 × measured.
LIMITS: dict[tuple[str, int], tuple[float, float, float]] = {
    ("phantom", 2): (0.020, 0.019, 0.025),
    ("phantom", 3): (0.030, 0.027, 0.031),
    ("phantom", 4): (0.047, 0.034, 0.037),
    ("in vivo", 2): (0.038, 0.038, 0.043),
    ("in vivo", 3): (0.061, 0.057, 0.062),
    ("in vivo", 4): (0.11, 0.091, 0.10),
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module", params=list(CIMA))
def cima(
    request: pytest.FixtureRequest, one_torch_thread: None
) -> tuple[str, KSpace, np.ndarray, np.ndarray]:
    """Name, fully sampled k-space, ESPIRiT maps and the fully sampled SENSE reference."""
    ks = mr.read(
        shared_data("pulseq_mr_physics_course", "04_hardware_and_imprefections", "data", CIMA[request.param])
    )
    assert ks.shape == (16, 1, 128, 128) and bool(ks.sampling_mask.all())
    maps = estimate_coil_maps(ks, device="cpu").numpy()
    ref = run(sense_steps(ks, maps=maps, iterations=10, device="cpu")).numpy()[0, 0]
    return request.param, ks, maps, ref


def nrmse(x: np.ndarray, ref: np.ndarray, *, fitted: bool = False) -> float:
    """Magnitude NRMSE of ``x`` (any shape with ``ref.size`` elements), optionally scale-fitted."""
    return metrics.nrmse(np.reshape(x, np.shape(ref)), ref, magnitude=True, fit_scale=fitted)


@pytest.mark.parametrize("r", [2, 3, 4])
def test_sense_tv_wavelet_on_16_coil_cima_x(cima: tuple[str, KSpace, np.ndarray, np.ndarray], r: int) -> None:
    name, full, maps, ref = cima
    under = undersample(full, r, 24)
    zero_filled = nrmse(
        run(sense_steps(under, maps=maps, iterations=1, device="cpu")).numpy()[0, 0], ref, fitted=True
    )
    errors = {}
    for steps, iterations in ((sense_steps, 10), (tv_steps, 15), (wavelet_steps, 15)):
        image = run(steps(under, maps=maps, iterations=iterations, device="cpu"))
        errors[steps.__name__.removesuffix("_steps")] = nrmse(image.numpy()[0, 0], ref)
    print(
        f"Cima.X {name} R={r}: zero-filled {zero_filled:.4f}, "
        + ", ".join(f"{k} {v:.4f}" for k, v in errors.items())
    )
    for (method, err), limit in zip(errors.items(), LIMITS[name, r], strict=True):
        assert err < limit, f"Cima.X {name} R={r} {method}: NRMSE {err:.4f} ≥ {limit}"
        assert err < zero_filled / 1.5, f"{method} does not beat zero-filling clearly"
