"""Siemens twix reading (twixtools): real VB and VD/VE files, multi-raid noise, bad files."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import recon_engine as mr
from recon_engine.api import info_dict
from recon_engine.errors import FileFormatError
from recon_engine.io.twix import is_twix, read_twix, read_twix_info, read_twix_readouts, twix_header_tree
from tests.conftest import shared_data

pytest.importorskip("twixtools")

COURSE = "pulseq_mr_physics_course"
SE32 = (COURSE, "02_rf_pulses", "data", "meas_MID00243_FID33257_pulseq.dat")
EPI_VB = (COURSE, "07_echo_planar_imaging", "data", "04_03_basic_epi_96x96_pe+.dat")


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_gre_reads_with_oversampling_and_reconstructs_centred_object() -> None:
    path = shared_data("twixtools_examples", "gre.dat")
    before = _sha(path)
    ks = read_twix(path)
    assert ks.shape == (2, 1, 160, 320)  # coils, k2, k1, k0 (2× oversampled readout)
    h = ks.header
    assert h.encoded_matrix == (320, 160, 1)
    assert h.recon_matrix == (160, 160, 1)
    assert h.encoded_fov_mm == (400.0, 200.0, 4.0)
    assert h.readout_oversampling == 2.0
    assert h.te_ms == (3.0,) and h.tr_ms == (10.0,) and h.flip_angle_deg == (15.0,)
    assert h.field_strength_t == pytest.approx(2.894, abs=1e-3)
    assert ks.noise is None and ks.navigators is None
    # geometry: the slice normal from the mdh quaternion matches the protocol's sNormal
    normal = np.array([6.58423005e-09, 0.0383878015, 0.9992629886])
    np.testing.assert_allclose(ks.geometry.slice_dir, normal, atol=1e-4)
    np.testing.assert_allclose(ks.geometry.position_mm, [-2.5897, 53.9224, -53.9995], atol=1e-3)
    assert abs(float(ks.geometry.read_dir @ ks.geometry.phase_dir)) < 1e-6

    img = np.abs(mr.reconstruct(ks, device="cpu").data.numpy())[0, 0]
    assert img.shape == (160, 160)
    obj = img > 0.3 * np.percentile(img, 99)
    cy, cx = (float(np.mean(np.nonzero(obj)[a])) for a in (0, 1))
    assert abs(cy - 80) < 12 and abs(cx - 80) < 12  # the phantom sits in the FOV centre
    snr = img[obj].mean() / img[:12, :12].std()
    assert snr > 20
    assert _sha(path) == before  # the input is never modified


def test_epi_navigators_kept_apart_and_reflected_lines_flagged() -> None:
    ks = read_twix(shared_data("twixtools_examples", "epi.dat"))
    assert ks.shape == (2, 1, 80, 160)
    assert ks.navigators is not None and tuple(ks.navigators.shape) == (3, 2, 160)
    kinds = ks.acquisitions.kind_counts()
    assert kinds["phasecorr"] == 3 and kinds["imaging"] == 80
    assert kinds["reverse"] == 42  # 40 image lines + 2 of the 3 navigators (−, +, −)
    assert ks.meta["ramp_sampling"].startswith("regridded")
    assert ks.header.trajectory == "cartesian"


def test_ramp_regridding_can_be_switched_off() -> None:
    path = shared_data("twixtools_examples", "epi.dat")
    raw = read_twix_readouts(path, regrid=False)
    regridded = read_twix_readouts(path)
    assert "ramp_sampling" not in raw.meta
    line = len(raw) - 1
    a, b = raw.samples[line], regridded.samples[line]
    assert a.shape == b.shape and not np.allclose(a, b)
    assert int(np.argmax(np.abs(b[0]))) == int(np.argmax(np.abs(a[0])))  # the echo stays put


def _trapezoid_area(t: np.ndarray, up: float, flat: float, down: float) -> np.ndarray:
    end = up + flat + down
    return np.where(
        t < up,
        t**2 / (2 * up),
        np.where(t < up + flat, up / 2 + (t - up), up / 2 + flat + down / 2 - (end - t) ** 2 / (2 * down)),
    )


def test_ramp_regridding_is_band_limited_interpolation(rng: np.random.Generator) -> None:
    from recon_engine.io.twix import _ramp_operator

    n, up, flat, down, delay, duration = 160, 160.0, 240.0, 160.0, 32.0, 496.0
    meas = {
        "alRegridMode": [2, 1],
        "alRegridRampupTime": [up],
        "alRegridFlattopTime": [flat],
        "alRegridRampdownTime": [down],
        "alRegridDelaySamplesTime": [delay],
        "aflRegridADCDuration": [duration],
    }
    op = _ramp_operator(meas, n)
    assert op is not None and op.shape == (n, n)
    k = _trapezoid_area(delay + duration / n * (np.arange(n) + 0.5), up, flat, down)
    u = (k - k[0]) / (k[-1] - k[0]) * (n - 1)  # sample positions in target-grid units
    x = (np.arange(n) - n / 2) / n
    obj = np.where(
        np.abs(x) < 0.25, rng.standard_normal(n) + 1j * rng.standard_normal(n), 0
    )  # 2× oversampled
    ramp = np.exp(-2j * np.pi * np.outer(u, x)) @ obj
    uniform = np.exp(-2j * np.pi * np.outer(np.arange(n), x)) @ obj
    err = np.linalg.norm(op @ ramp - uniform) / np.linalg.norm(uniform)
    assert err < 0.02
    assert _ramp_operator({"alRegridMode": [1, 1]}, n) is None


def test_32_coil_pulseq_spin_echo() -> None:
    path = shared_data(*SE32)
    r = read_twix_readouts(path)
    assert r.meta["twix_version"] == "VD/VE" and r.meta["pulseq_driven"]
    assert r.meta["noise_readouts"] == 0  # this file has no noise-adjustment scan
    assert "sequence_parameters" in r.meta["protocol_notes"]  # protocol defaults left out
    ks = read_twix(path)
    assert ks.n_coils == 32 and ks.shape == (32, 1, 64, 64)
    assert ks.noise is None
    assert ks.header.recon_fov_mm[:2] == (128.0, 128.0)
    assert ks.header.te_ms == ()
    np.testing.assert_allclose(ks.geometry.position_mm, [-6.6586, 45.3995, 0.0], atol=1e-3)
    np.testing.assert_allclose(ks.geometry.slice_dir, [0.0, 0.0, 1.0], atol=1e-6)
    info = info_dict(read_twix_info(path))
    assert info["coils"] == 32 and info["acquisitions"] == 64
    img = mr.reconstruct(ks, device="cpu")
    assert tuple(img.data.shape[-2:]) == (64, 64)


def test_vb_file_reads() -> None:
    r = read_twix_readouts(shared_data(*EPI_VB))
    assert r.meta["twix_version"] == "VB" and len(r) == 96
    assert r.samples[0].shape == (1, 96) and r.samples[0].dtype == np.complex64
    assert r.header.encoded_matrix == (96, 96, 1)  # from the data: the protocol says 64


def _multiraid(tmp_path: Path, rng: np.random.Generator) -> Path:
    """gre.dat behind a noise-adjustment raid (6 readouts of 256 samples), as the scanner writes."""
    import twixtools

    src = shared_data("twixtools_examples", "gre.dat")
    with contextlib.redirect_stdout(io.StringIO()):
        scan = twixtools.read_twix(
            str(src), verbose=False, parse_pmu=False, parse_geometry=False, keep_acqend=True
        )[0]
    noise = []
    for m in scan["mdb"][:6]:
        local = m.convert_to_local()
        local.add_flag("NOISEADJSCAN")
        local.data = (rng.standard_normal((2, 256)) + 1j * rng.standard_normal((2, 256))).astype(np.complex64)
        noise.append(local)
    noise.append(scan["mdb"][-1].convert_to_local())  # ACQEND
    raid = {"hdr_str": scan["hdr_str"], "mdb": noise, "raidfile_hdr": scan["raidfile_hdr"].copy()}
    out = tmp_path / "multiraid.dat"
    with contextlib.redirect_stdout(io.StringIO()):
        twixtools.write_twix([raid, scan], str(out))
    return out


def test_multiraid_noise_scan_comes_first(tmp_path: Path, rng: np.random.Generator) -> None:
    path = _multiraid(tmp_path, rng)
    r = read_twix_readouts(path)
    assert r.meta["n_scans"] == 2 and r.meta["scan"] == 1
    assert r.meta["noise_readouts"] == 6 and r.meta["noise_from_earlier_scans"] == 6
    assert bool(r.acquisitions.is_kind("noise")[:6].all()) and not r.acquisitions.is_kind("noise")[6:].any()
    ks = read_twix(path)
    assert ks.noise is not None and tuple(ks.noise.shape) == (2, 6 * 256)
    assert ks.shape == (2, 1, 160, 320)
    assert mr.reconstruct(ks, device="cpu").meta["prewhitened"]
    with pytest.raises(FileFormatError, match="scan 5"):
        read_twix_readouts(path, scan=5)


@pytest.mark.parametrize(
    ("parts", "keep"),
    [
        (("twixtools_examples", "gre.dat"), 4_000),  # inside the multi-raid header
        (("twixtools_examples", "gre.dat"), 30_000),  # inside the protocol
        (("twixtools_examples", "gre.dat"), 1_000_000),  # inside the readouts
        (EPI_VB, 300_000),  # VB: inside the protocol
        (EPI_VB, 600_000),  # VB: inside the readouts
        (EPI_VB, -300),  # VB: the last readout and ACQEND cut
    ],
)
def test_truncated_file_gives_clear_error(tmp_path: Path, parts: tuple[str, ...], keep: int) -> None:
    data = shared_data(*parts).read_bytes()
    cut = tmp_path / "cut.dat"
    cut.write_bytes(data[:keep])
    with pytest.raises(FileFormatError, match="truncated") as err:
        read_twix_readouts(cut)
    assert "\n" not in str(err.value)


def test_non_twix_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.dat"
    text.write_text("hello, not raw data\n" * 100)
    missing = tmp_path / "missing.dat"
    for p in (text, missing, tmp_path):
        assert not is_twix(p)
        with pytest.raises(FileFormatError):
            read_twix_readouts(p)


def test_file_without_suffix_reads(tmp_path: Path) -> None:
    p = tmp_path / "gre"
    shutil.copy(shared_data("twixtools_examples", "gre.dat"), p)
    assert is_twix(p)
    assert len(read_twix_readouts(p)) == 160


def test_missing_twixtools_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "twixtools", None)
    with pytest.raises(FileFormatError, match=r"pip install napari-mrrecon\[twix\]"):
        read_twix_readouts(shared_data("twixtools_examples", "gre.dat"))


def test_header_tree_for_metadata_dock() -> None:
    tree = twix_header_tree(shared_data("twixtools_examples", "gre.dat"))
    assert tree["twix"] == {"version": "VD/VE", "measurement": 1, "measurements": ["gre"]}
    assert tree["MeasYaps"]["sKSpace"]["lBaseResolution"] == 160
    assert tree["Dicom"]["ManufacturersModelName"] == "Skyra"
    assert not any(k.endswith("_raw") for k in tree)

    def longest(v: object) -> int:
        if isinstance(v, dict):
            return max((longest(x) for x in v.values()), default=0)
        if isinstance(v, list):
            return max((longest(x) for x in v), default=0)
        return len(v) if isinstance(v, str) else 0

    assert longest(tree) < 260


@pytest.mark.skipif(
    importlib.util.find_spec("recon_engine.io.pulseq") is None, reason="Pulseq reader not available"
)
def test_32_coil_spin_echo_with_its_sequence() -> None:
    folder = shared_data(*SE32[:-1])
    ks = read_twix(folder / SE32[-1], seq=folder / "se_2D_sinc_img.seq")
    assert ks.shape == (32, 1, 64, 64) and ks.header.is_cartesian
    assert ks.header.encoded_fov_mm == (128.0, 128.0, 30.0)
    with_seq = np.abs(mr.reconstruct(ks, device="cpu").data.numpy()).ravel()
    without = np.abs(mr.reconstruct(read_twix(folder / SE32[-1]), device="cpu").data.numpy()).ravel()
    assert np.corrcoef(with_seq, without)[0, 1] > 0.999  # linear phase encoding: the same image
