"""ISMRMRD writer: round trips through the reader and the official C++ tools."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.flags import flag_mask, has_flag
from recon_engine.data.header import EncodingLimit, parse_header
from recon_engine.data.kspace import KSpace
from recon_engine.errors import ExportError, ParameterError
from recon_engine.io.ismrmrd_read import read_ismrmrd
from recon_engine.io.ismrmrd_write import make_header_xml, write_ismrmrd
from recon_engine.simulate import birdcage_sensitivities, shepp_logan, simulate_cartesian
from tests.conftest import shared_data

TILT = np.deg2rad(20.0)


def present(t: torch.Tensor | None) -> torch.Tensor:
    assert t is not None
    return t


@pytest.fixture(scope="module")
def kspace() -> KSpace:
    return simulate_cartesian(
        shepp_logan(128),
        birdcage_sensitivities(4, (128, 128)),
        matrix=(64, 64),
        acceleration=2,
        calibration_lines=16,
        n_noise_samples=640,
        seed=1,
        te_ms=(4.6,),
        tr_ms=(250.0,),
        flip_angle_deg=(70.0,),
        fov_mm=(200.0, 200.0, 4.0),
        position_mm=(3.0, -7.5, 21.0),
        read_dir=(np.cos(TILT), np.sin(TILT), 0.0),
        phase_dir=(0.0, 0.0, 1.0),
    )


def test_round_trip_keeps_kspace_and_header(kspace: KSpace, tmp_path: Path) -> None:
    path = write_ismrmrd(kspace, tmp_path / "scan.h5")
    assert path == tmp_path / "scan.h5"
    back = read_ismrmrd(path)
    assert back.other_axes == ()
    assert torch.equal(back.data, kspace.data)
    assert torch.equal(present(back.noise), present(kspace.noise))
    assert torch.equal(back.sampling_mask, kspace.sampling_mask)
    assert torch.equal(back.calibration_mask, kspace.calibration_mask)
    assert np.array_equal(back.acquisitions.headers, kspace.acquisitions.headers)
    assert back.acquisitions.flag_counts() == kspace.acquisitions.flag_counts()
    assert back.acquisitions.kind_counts()["calibration"] == 8
    h, ref = back.header, kspace.header
    assert h.encoded_matrix == (128, 64, 1)
    assert h.recon_matrix == (64, 64, 1)
    assert h.encoded_fov_mm == (400.0, 200.0, 4.0)
    assert h.recon_fov_mm == (200.0, 200.0, 4.0)
    assert h.limits == ref.limits
    assert h.limit("kspace_encoding_step_1") == EncodingLimit(0, 62, 32)
    assert (h.te_ms, h.tr_ms, h.flip_angle_deg) == ((4.6,), (250.0,), (70.0,))
    assert h.field_strength_t == 3.0
    assert h.acceleration == (2, 1)
    assert h.calibration_mode == "embedded"
    assert h.receiver_channels == 4
    g = back.geometry
    np.testing.assert_allclose(g.position_mm, [3.0, -7.5, 21.0], atol=1e-5)
    np.testing.assert_allclose(g.read_dir, [np.cos(TILT), np.sin(TILT), 0.0], atol=1e-6)
    np.testing.assert_allclose(g.phase_dir, [0.0, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(g.slice_dir, np.cross(g.read_dir, g.phase_dir), atol=1e-6)
    assert np.linalg.det(g.rotation) == pytest.approx(1.0, abs=1e-6)


def test_rewriting_a_read_file_gives_the_same_bytes(kspace: KSpace, tmp_path: Path) -> None:
    first = write_ismrmrd(kspace, tmp_path / "a.h5")
    second = write_ismrmrd(read_ismrmrd(first), tmp_path / "b.h5")
    assert first.read_bytes() == second.read_bytes()


def test_reversed_readouts_are_stored_reversed(kspace: KSpace, tmp_path: Path) -> None:
    heads = kspace.acquisitions.headers.copy()
    odd = kspace.acquisitions.is_imaging & (kspace.acquisitions.counter("kspace_encode_step_1") % 4 == 0)
    heads["flags"][odd] |= np.uint64(flag_mask("ACQ_IS_REVERSE"))
    ks = replace(kspace, acquisitions=AcquisitionTable(heads))
    path = write_ismrmrd(ks, tmp_path / "rev.h5")
    with h5py.File(path, "r") as f:
        rec = f["dataset/data"][:]
    row = int(np.flatnonzero(odd)[0])
    k1 = int(rec["head"]["idx"]["kspace_encode_step_1"][row])
    stored = rec["data"][row].view(np.complex64).reshape(4, -1)
    np.testing.assert_array_equal(stored, kspace.data.numpy()[:, 0, k1, ::-1])
    back = read_ismrmrd(path)
    assert int(back.acquisitions.is_kind("reverse").sum()) == int(odd.sum())
    assert torch.equal(back.data, kspace.data)


def _grid_trajectory(ks: KSpace) -> torch.Tensor:
    n2, n1, n0 = ks.data.shape[-3:]
    kz, ky, kx = np.meshgrid(
        np.arange(n2) - n2 // 2, np.arange(n1) - n1 // 2, (np.arange(n0) - n0 // 2) / 2, indexing="ij"
    )
    traj = np.stack([kz, ky, kx], axis=-1).astype(np.float32)
    traj *= ks.sampling_mask.numpy()[..., None, None]
    return torch.from_numpy(traj)


def test_trajectory_round_trip_2d(kspace: KSpace, tmp_path: Path) -> None:
    ks = replace(kspace, trajectory=_grid_trajectory(kspace))
    path = write_ismrmrd(ks, tmp_path / "traj.h5")
    back = read_ismrmrd(path)
    img = back.acquisitions.is_imaging
    assert np.all(back.acquisitions.headers["trajectory_dimensions"][img] == 2)
    assert torch.equal(present(back.trajectory), present(ks.trajectory))


def test_trajectory_round_trip_3d(tmp_path: Path) -> None:
    from recon_engine.simulate import shepp_logan_3d

    vol = shepp_logan_3d(16, 8)
    ks = simulate_cartesian(
        vol, birdcage_sensitivities(2, vol.shape), n_noise_samples=0, fov_mm=(200, 200, 100)
    )
    ks = replace(ks, trajectory=_grid_trajectory(ks))
    back = read_ismrmrd(write_ismrmrd(ks, tmp_path / "traj3d.h5"))
    assert np.all(back.acquisitions.headers["trajectory_dimensions"] == 3)
    assert torch.equal(present(back.trajectory), present(ks.trajectory))
    assert torch.equal(back.data, ks.data)


def test_multi_slice_without_header_xml(kspace: KSpace, tmp_path: Path) -> None:
    data = torch.stack([kspace.data, 2 * kspace.data])  # (slice, coils, k2, k1, k0)
    mask = torch.stack([kspace.sampling_mask, kspace.sampling_mask])
    positions = np.array([[3.0, -7.5, 21.0], [3.0, -7.5, 26.0]])
    ks = replace(
        kspace,
        data=data,
        sampling_mask=mask,
        other_axes=("slice",),
        header=replace(kspace.header, xml=""),
        geometry=kspace.geometry.with_slices(positions),
        acquisitions=AcquisitionTable(kspace.acquisitions.headers[:0]),
    )
    back = read_ismrmrd(write_ismrmrd(ks, tmp_path / "slices.h5"))
    assert back.other_axes == ("slice",)
    assert torch.equal(back.data, data)
    assert back.header.limit("slice") == EncodingLimit(0, 1, 1)
    assert back.header.te_ms == (4.6,)
    np.testing.assert_allclose(back.geometry.slice_positions_mm, positions, atol=1e-5)
    counts = back.acquisitions.flag_counts()
    assert counts["ACQ_FIRST_IN_SLICE"] == counts["ACQ_LAST_IN_SLICE"] == 2
    assert counts["ACQ_LAST_IN_MEASUREMENT"] == 1
    # calibration flags are recomputed from calibration_mask and the header's R
    assert back.acquisitions.kind_counts()["calibration"] == 2 * 8


def test_fewer_coils_patch_receiver_channels(kspace: KSpace, tmp_path: Path) -> None:
    ks = replace(kspace, data=kspace.data[:2].clone(), noise=present(kspace.noise)[:2].clone())
    back = read_ismrmrd(write_ismrmrd(ks, tmp_path / "two.h5"))
    assert back.header.receiver_channels == 2
    assert back.n_coils == 2
    bad = replace(kspace, noise=present(kspace.noise)[:2].clone())
    with pytest.raises(ExportError, match="channels"):
        write_ismrmrd(bad, tmp_path / "bad.h5")


def test_output_errors_and_atomicity(kspace: KSpace, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="does not exist"):
        write_ismrmrd(kspace, tmp_path / "missing" / "scan.h5")
    path = write_ismrmrd(kspace, tmp_path / "scan.h5")
    with pytest.raises(ExportError, match="exists"):
        write_ismrmrd(kspace, path)
    write_ismrmrd(kspace, path, overwrite=True)
    empty = replace(kspace, sampling_mask=torch.zeros_like(kspace.sampling_mask))
    with pytest.raises(ExportError, match="no sampled line"):
        write_ismrmrd(empty, tmp_path / "empty.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.h5"]  # no temporary files left


def test_make_header_xml_fields() -> None:
    xml = make_header_xml(
        encoded_matrix=(256, 128, 1),
        encoded_fov_mm=(440, 220, 5),
        recon_matrix=(128, 128, 1),
        recon_fov_mm=(220, 220, 5),
        limits={"kspace_encoding_step_1": (0, 127, 64), "slice": EncodingLimit(0, 2, 1)},
        trajectory="radial",
        acceleration=(3, 1),
        calibration_mode="separate",
        receiver_channels=16,
        te_ms=(2.0, 4.0),
        tr_ms=(10.0,),
        ti_ms=(900.0,),
        flip_angle_deg=(15.0,),
        field_strength_t=1.5,
        protocol_name="test",
    )
    h = parse_header(xml)
    assert (h.encoded_matrix, h.recon_matrix) == ((256, 128, 1), (128, 128, 1))
    assert h.trajectory == "radial"
    assert h.acceleration == (3, 1)
    assert h.calibration_mode == "separate"
    assert h.receiver_channels == 16
    assert (h.te_ms, h.tr_ms, h.ti_ms, h.flip_angle_deg) == ((2.0, 4.0), (10.0,), (900.0,), (15.0,))
    assert h.h1_frequency_hz == pytest.approx(63_866_217, abs=1)  # γ · 1.5 T
    assert h.limit("slice") == EncodingLimit(0, 2, 1)
    assert h.protocol_name == "test"
    assert "<version>" not in xml and "Date" not in xml and "Time>" not in xml
    with pytest.raises(ParameterError, match="trajectory"):
        make_header_xml(
            encoded_matrix=(8, 8, 1),
            encoded_fov_mm=(1, 1, 1),
            recon_matrix=(8, 8, 1),
            recon_fov_mm=(1, 1, 1),
            limits={},
            trajectory="rosette",
            receiver_channels=1,
        )
    with pytest.raises(ParameterError, match="counter"):
        make_header_xml(
            encoded_matrix=(8, 8, 1),
            encoded_fov_mm=(1, 1, 1),
            recon_matrix=(8, 8, 1),
            recon_fov_mm=(1, 1, 1),
            limits={"k1": (0, 7, 4)},
            receiver_channels=1,
        )


# --- files from other writers ------------------------------------------------------------


@pytest.mark.tools
def test_round_trip_of_a_file_from_the_cpp_tools(tmp_path: Path, ismrmrd_tool: Callable[..., Path]) -> None:
    src = ismrmrd_tool(tmp_path, "-m", "64", "-c", "4", "-a", "2", "-w", "16", "-C")
    ks = read_ismrmrd(src)  # 2 repetitions (interleaved R = 2), embedded calibration, a noise scan
    back = read_ismrmrd(write_ismrmrd(ks, tmp_path / "rewritten.h5"))
    assert back.other_axes == ks.other_axes == ("repetition",)
    assert torch.equal(back.data, ks.data)
    assert torch.equal(present(back.noise), present(ks.noise))
    assert back.acquisitions.flag_counts() == ks.acquisitions.flag_counts()
    assert back.header.xml == ks.header.xml
    # the C++ generator writes zero direction vectors; ours form a rotation
    h = back.acquisitions.headers
    rot = np.stack([h["read_dir"][0], h["phase_dir"][0], h["slice_dir"][0]], axis=1)
    assert np.linalg.det(rot) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.filterwarnings("ignore:field of view")
@pytest.mark.parametrize(
    "parts",
    [
        ("jemris_spiral_ismrmrd_sim", "signals_spiralout_clean_slc30.h5"),
        ("koma_simulated_mrd", "Koma_signal.mrd"),
    ],
)
def test_round_trip_of_shared_files(parts: tuple[str, str], tmp_path: Path) -> None:
    ks = read_ismrmrd(shared_data(*parts))
    back = read_ismrmrd(write_ismrmrd(ks, tmp_path / "rewritten.h5"))
    assert torch.equal(back.data, ks.data)
    assert back.header.xml == ks.header.xml
    if ks.trajectory is not None:
        assert torch.equal(present(back.trajectory), ks.trajectory)
    src = ks.acquisitions.headers[ks.acquisitions.is_imaging]
    for name in (
        "flags",
        "idx",
        "center_sample",
        "acquisition_time_stamp",
        "position",
        "trajectory_dimensions",
    ):
        assert np.array_equal(back.acquisitions.headers[name], src[name]), name


# --- the official C++ tools (Debian ismrmrd-tools) --------------------------------------


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (Debian package ismrmrd-tools)")
    return path


@pytest.mark.tools
def test_cpp_library_reads_file_and_header(kspace: KSpace, tmp_path: Path) -> None:
    path = write_ismrmrd(kspace, tmp_path / "scan.h5")
    run = subprocess.run(
        [_tool("ismrmrd_read_timing_test"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "READ TIMER" in run.stdout
    with h5py.File(path, "r") as f:
        (tmp_path / "header.xml").write_bytes(f["dataset/xml"][0])
    run = subprocess.run(
        [_tool("ismrmrd_test_xml"), str(tmp_path / "header.xml")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr  # the C++ XML parser (schema version check included)
    run = subprocess.run(
        [_tool("ismrmrd_info"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr


@pytest.mark.tools
def test_cpp_cartesian_recon_runs_on_a_copy(kspace: KSpace, tmp_path: Path) -> None:
    tool = _tool("ismrmrd_recon_cartesian_2d")
    full = simulate_cartesian(
        shepp_logan(256), birdcage_sensitivities(8, (256, 256)), matrix=(128, 128), seed=2
    )
    path = write_ismrmrd(full, tmp_path / "scan.h5")
    copy = tmp_path / "copy.h5"
    shutil.copy(path, copy)
    run = subprocess.run(
        [tool, str(copy)], capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False
    )
    assert run.returncode == 0, run.stderr
    assert "Number of Channels          : 8" in run.stdout
    with h5py.File(copy, "r") as f:
        image = np.squeeze(f["dataset/cpp/data"][0])
    assert image.shape == (128, 128)
    ref = shepp_logan(128)
    corr = float(np.sum(image * ref) / (np.linalg.norm(image) * np.linalg.norm(ref)))
    assert corr > 0.95  # RSS of 8 coils vs the 128² phantom: measured 0.974
    with h5py.File(path, "r") as f:
        assert "cpp" not in f["dataset"]  # the original was not touched
    assert has_flag(full.acquisitions.flags, "ACQ_IS_NOISE_MEASUREMENT").sum() == 8
