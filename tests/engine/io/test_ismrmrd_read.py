from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import ismrmrd
import numpy as np
import pytest

from recon_engine.errors import DataError, FileFormatError, HeaderError
from recon_engine.io.ismrmrd_read import is_ismrmrd, read_ismrmrd, read_ismrmrd_info
from tests.conftest import shared_data
from tests.engine import _rawfiles as rf


def _lines(rng: np.random.Generator, n: int, coils: int, nx: int) -> np.ndarray:
    return (rng.standard_normal((n, coils, nx)) + 1j * rng.standard_normal((n, coils, nx))).astype(
        np.complex64
    )


def test_sorts_lines_by_counters_and_keeps_noise_apart(tmp_path: Path, rng: np.random.Generator) -> None:
    lines = _lines(rng, 16, 2, 32)
    noise = _lines(rng, 1, 2, 64)[0]
    order = rng.permutation(16)
    acqs = [rf.acquisition(noise, 0, flags=[ismrmrd.ACQ_IS_NOISE_MEASUREMENT])]
    acqs += [rf.acquisition(lines[k], int(k)) for k in order]
    p = rf.write(tmp_path / "raw.h5", rf.header(), acqs)
    ks = read_ismrmrd(p)
    assert ks.shape == (2, 1, 16, 32)
    np.testing.assert_array_equal(ks.data[:, 0].numpy().transpose(1, 0, 2), lines)
    assert ks.noise is not None
    np.testing.assert_array_equal(ks.noise.numpy(), noise)
    assert bool(ks.sampling_mask.all())
    assert ks.acquisitions.kind_counts()["noise"] == 1


def test_partial_fourier_lines_are_placed_by_the_limit_centre(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    # 12 of 16 lines acquired, counters 0..11, k-space centre at counter 4 -> index 8
    lines = _lines(rng, 12, 1, 32)
    p = rf.write(
        tmp_path / "pf.h5",
        rf.header(coils=1, k1max=11, k1c=4),
        [rf.acquisition(lines[k], k) for k in range(12)],
    )
    ks = read_ismrmrd(p)
    assert ks.shape == (1, 1, 16, 32)
    np.testing.assert_array_equal(ks.data[0, 0, 4:16].numpy(), lines[:, 0])
    assert ks.sampling_mask[0].numpy().tolist() == [False] * 4 + [True] * 12


def test_asymmetric_echo_is_placed_by_centre_sample(tmp_path: Path, rng: np.random.Generator) -> None:
    lines = _lines(rng, 16, 1, 24)  # 24 of 32 samples, echo at sample 8 -> index 16
    p = rf.write(
        tmp_path / "ae.h5", rf.header(coils=1), [rf.acquisition(lines[k], k, centre=8) for k in range(16)]
    )
    ks = read_ismrmrd(p)
    np.testing.assert_array_equal(ks.data[0, 0, :, 8:32].numpy(), lines[:, 0])
    assert float(ks.data[0, 0, :, :8].abs().max()) == 0.0


def test_reversed_lines_are_flipped_and_navigators_kept_apart(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    lines = _lines(rng, 16, 1, 32)
    acqs = [
        rf.acquisition(lines[0], 0, flags=[ismrmrd.ACQ_IS_NAVIGATION_DATA]),
        rf.acquisition(lines[1], 0, flags=[ismrmrd.ACQ_IS_PHASECORR_DATA]),
    ]
    acqs += [
        rf.acquisition(
            lines[k][:, ::-1] if k % 2 else lines[k], k, flags=[ismrmrd.ACQ_IS_REVERSE] if k % 2 else []
        )
        for k in range(16)
    ]
    ks = read_ismrmrd(rf.write(tmp_path / "rev.h5", rf.header(coils=1), acqs))
    np.testing.assert_array_equal(ks.data[0, 0].numpy(), lines[:, 0])
    assert ks.navigators is not None
    assert ks.navigators.shape == (2, 1, 32)
    assert ks.acquisitions.kind_counts()["reverse"] == 8


def test_slices_become_an_other_axis_with_positions(tmp_path: Path, rng: np.random.Generator) -> None:
    lines = _lines(rng, 32, 1, 32)
    acqs = [
        rf.acquisition(lines[16 * s + k], k, slice_=s, position=(0.0, 0.0, 6.0 * s - 3.0))
        for s in range(2)
        for k in range(16)
    ]
    ks = read_ismrmrd(rf.write(tmp_path / "ms.h5", rf.header(coils=1, slices=2), acqs))
    assert ks.other_axes == ("slice",)
    assert ks.shape == (2, 1, 1, 16, 32)
    np.testing.assert_allclose(ks.geometry.slice_positions_mm[:, 2], [-3.0, 3.0])


def test_embedded_trajectory_is_read(tmp_path: Path, rng: np.random.Generator) -> None:
    lines = _lines(rng, 16, 1, 32)
    acqs = []
    for k in range(16):
        t = np.stack([np.arange(32) - 16.0, np.full(32, k - 8.0)], axis=1).astype(np.float32)
        acqs.append(rf.acquisition(lines[k], k, traj=t))
    ks = read_ismrmrd(rf.write(tmp_path / "traj.h5", rf.header(coils=1), acqs))
    assert ks.trajectory is not None
    assert ks.trajectory.shape == (1, 16, 32, 3)
    np.testing.assert_array_equal(ks.trajectory[0, 3, :, 2].numpy(), np.arange(32) - 16.0)  # kx
    np.testing.assert_array_equal(ks.trajectory[0, 3, :, 1].numpy(), np.full(32, -5.0))  # ky
    assert float(ks.trajectory[..., 0].abs().max()) == 0.0


def test_official_tool_files(tmp_path: Path, ismrmrd_tool: Callable[..., Path]) -> None:
    full = read_ismrmrd(ismrmrd_tool(tmp_path, "-m", "64", "-c", "4", "-C"))
    assert full.shape == (4, 1, 64, 128)
    assert full.noise is not None and full.noise.shape[0] == 4
    assert full.geometry.orientation_assumed  # the tool writes zero direction vectors
    acc = read_ismrmrd(ismrmrd_tool(tmp_path, "-m", "64", "-c", "4", "-a", "2", "-w", "16"))
    # the tool writes the R=2 pattern as two interleaved repetitions, with 16 calibration lines
    assert acc.other_axes == ("repetition",)
    assert int(acc.calibration_mask.sum()) == 16
    assert [int(m.sum()) for m in acc.sampling_mask[:, 0]] == [40, 40]
    traj = read_ismrmrd(ismrmrd_tool(tmp_path, "-m", "64", "-c", "4", "-k"))
    assert traj.trajectory is not None and traj.trajectory.shape == (1, 64, 128, 3)


def test_extra_groups_are_ignored_and_info_reads_no_samples(
    tmp_path: Path, ismrmrd_tool: Callable[..., Path]
) -> None:
    p = ismrmrd_tool(tmp_path, "-m", "64", "-c", "4", "-C")
    with h5py.File(p, "r") as f:
        assert {"phantom", "csm", "coil_images"} <= set(f["dataset"])
    info = read_ismrmrd_info(p)
    assert info.n_coils == 4
    assert info.header.encoded_matrix == (128, 64, 1)
    assert info.acquisitions.kind_counts()["noise"] == 1
    assert is_ismrmrd(p)


def test_input_file_is_not_modified(tmp_path: Path, ismrmrd_tool: Callable[..., Path]) -> None:
    p = ismrmrd_tool(tmp_path, "-m", "64", "-c", "4")
    before = p.read_bytes()
    p.chmod(0o444)
    read_ismrmrd(p)
    assert p.read_bytes() == before


# ---- bad input -------------------------------------------------------------------------


def test_truncated_hdf5(tmp_path: Path, ismrmrd_tool: Callable[..., Path]) -> None:
    good = ismrmrd_tool(tmp_path, "-m", "64", "-c", "4")
    bad = tmp_path / "truncated.h5"
    bad.write_bytes(good.read_bytes()[:4000])
    with pytest.raises(FileFormatError, match="corrupt or truncated"):
        read_ismrmrd(bad)
    assert not is_ismrmrd(bad)


def test_hdf5_that_is_not_ismrmrd(tmp_path: Path) -> None:
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(FileFormatError, match="not ISMRMRD raw data"):
        read_ismrmrd(p)
    assert not is_ismrmrd(p)


def test_text_file_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "notes.h5"
    p.write_text("hello")
    with pytest.raises(FileFormatError, match="not an HDF5 file"):
        read_ismrmrd(p)
    with pytest.raises(FileFormatError, match="no such file"):
        read_ismrmrd(tmp_path / "missing.h5")
    assert not is_ismrmrd(p)
    assert not is_ismrmrd(tmp_path / "missing.h5")


def test_header_without_encoding(tmp_path: Path, rng: np.random.Generator) -> None:
    xml = '<?xml version="1.0"?><ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD"><version>1</version></ismrmrdHeader>'
    p = rf.write(tmp_path / "noenc.h5", xml, [rf.acquisition(_lines(rng, 1, 1, 8)[0], 0)])
    with pytest.raises(HeaderError, match="no <encoding>"):
        read_ismrmrd(p)


def test_no_acquisitions(tmp_path: Path, ismrmrd_tool: Callable[..., Path]) -> None:
    good = ismrmrd_tool(tmp_path, "-m", "64", "-c", "4")
    p = tmp_path / "empty.h5"
    with h5py.File(good, "r") as src, h5py.File(p, "w") as dst:
        g = dst.create_group("dataset")
        g.create_dataset("xml", data=src["dataset/xml"][()])
        g.create_dataset("data", shape=(0,), dtype=src["dataset/data"].dtype, maxshape=(None,))
    with pytest.raises(DataError, match="no imaging acquisitions"):
        read_ismrmrd(p)


def test_only_noise_acquisitions(tmp_path: Path, rng: np.random.Generator) -> None:
    p = rf.write(
        tmp_path / "noise.h5",
        rf.header(),
        [rf.acquisition(_lines(rng, 1, 2, 64)[0], 0, flags=[ismrmrd.ACQ_IS_NOISE_MEASUREMENT])],
    )
    with pytest.raises(DataError, match=r"no imaging acquisitions .*'noise': 1"):
        read_ismrmrd(p)


def test_nan_samples(tmp_path: Path, rng: np.random.Generator) -> None:
    lines = _lines(rng, 16, 1, 32)
    lines[3, 0, 5] = np.nan
    p = rf.write(tmp_path / "nan.h5", rf.header(coils=1), [rf.acquisition(lines[k], k) for k in range(16)])
    with pytest.raises(DataError, match="NaN"):
        read_ismrmrd(p)


def test_line_outside_the_matrix(tmp_path: Path, rng: np.random.Generator) -> None:
    lines = _lines(rng, 2, 1, 32)
    p = rf.write(
        tmp_path / "out.h5",
        rf.header(coils=1),
        [rf.acquisition(lines[0], 0), rf.acquisition(lines[1], 0, centre=40)],
    )
    ks = read_ismrmrd(p)  # a centre beyond the readout is clipped, never an IndexError
    assert ks.shape == (1, 1, 16, 32)


def test_koma_file_with_metre_fov_is_read_tolerantly() -> None:
    p = shared_data("koma_simulated_mrd", "Koma_signal.mrd")
    assert is_ismrmrd(p)
    with pytest.warns(UserWarning, match="metres"):
        info = read_ismrmrd_info(p)
    assert info.header.encoded_fov_mm[0] == pytest.approx(232.3, rel=1e-3)
    with pytest.warns(UserWarning, match="metres"):
        ks = read_ismrmrd(p)
    assert ks.shape == (1, 1, 101, 101)
    assert ks.trajectory is not None  # KomaMRI embeds its (EPI) trajectory
    assert ks.header.trajectory == "other"


def test_jemris_signal_file_is_not_ismrmrd() -> None:
    p = shared_data("koma_simulated_mrd", "jemris_signals_epi_sphere_cs.h5")
    assert not is_ismrmrd(p)
    with pytest.raises(FileFormatError, match="not ISMRMRD"):
        read_ismrmrd_info(p)


def test_copy_of_shared_file_reads_the_same(tmp_path: Path) -> None:
    src = shared_data("jemris_spiral_ismrmrd_sim", "signals_spiralout_clean_slc30.h5")
    dst = tmp_path / "spiral.h5"
    shutil.copy(src, dst)
    info = read_ismrmrd_info(dst)
    assert info.header.trajectory == "other"  # JEMRIS labels its spiral "other"
    ks = read_ismrmrd(dst)
    assert ks.trajectory is not None


def test_trajectory_units_are_detected_and_converted_to_recon_grid(
    tmp_path: Path, ismrmrd_tool: Callable[..., Path]
) -> None:
    # the official tool stores fractions of the encoded matrix (128 × 64, 2× oversampled readout)
    ks = read_ismrmrd(ismrmrd_tool(tmp_path, "-m", "64", "-c", "4", "-k"))
    assert ks.meta["trajectory_units"] == "fraction (detected)"
    t = ks.trajectory
    assert t is not None
    # cycles per recon FOV (300 mm): kx from -32 in steps of 0.5 (oversampled), ky from -32 in steps of 1
    assert float(t[0, 0, 0, 2]) == -32.0 and float(t[0, 0, 1, 2]) == -31.5
    assert float(t[0, 0, 0, 1]) == -32.0 and float(t[0, 1, 0, 1]) == -31.0
    as_grid = read_ismrmrd(ismrmrd_tool(tmp_path, "-m", "64", "-c", "4", "-k"), trajectory_units="grid")
    assert as_grid.meta["trajectory_units"] == "grid"
    assert as_grid.trajectory is not None and float(as_grid.trajectory[0, 0, 0, 2]) == pytest.approx(-0.25)


def test_trajectory_units_of_other_writers() -> None:
    spiral = read_ismrmrd(shared_data("jemris_spiral_ismrmrd_sim", "signals_spiralout_clean_slc30.h5"))
    assert spiral.meta["trajectory_units"] == "grid (detected)"
    assert spiral.trajectory is not None
    assert 100 < float(spiral.trajectory[..., 1:].abs().max()) <= 110  # 220 matrix
    assert float(spiral.trajectory[..., 0].abs().max()) == 0.0  # its constant third coordinate is dropped
    with pytest.warns(UserWarning, match="metres"):
        koma = read_ismrmrd(shared_data("koma_simulated_mrd", "Koma_signal.mrd"))
    assert koma.meta["trajectory_units"] == "fraction (detected)"


def test_impossible_trajectory_is_a_clear_error(tmp_path: Path, rng: np.random.Generator) -> None:
    lines = _lines(rng, 16, 1, 32)
    t = np.full((32, 2), 500.0, dtype=np.float32)
    p = rf.write(
        tmp_path / "far.h5", rf.header(coils=1), [rf.acquisition(lines[k], k, traj=t) for k in range(16)]
    )
    with pytest.raises(DataError, match="beyond N/2"):
        read_ismrmrd(p)
    t[3, 0] = np.nan
    p = rf.write(
        tmp_path / "nan.h5", rf.header(coils=1), [rf.acquisition(lines[k], k, traj=t) for k in range(16)]
    )
    with pytest.raises(DataError, match="trajectory contains NaN"):
        read_ismrmrd(p)
