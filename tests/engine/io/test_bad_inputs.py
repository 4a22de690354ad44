"""Damaged inputs give the engine's own errors, fast, without hangs or runaway allocations (issue 13).

One test per class the fuzzer found, each on a minimal damaged copy of a sample or generated
file: a zeroed HDF5 heap, a zeroed or oversized twix readout header, a ``.seq`` shape of the
wrong length, an encoding counter of 65535, NaN and huge header values, unknown DICOM VRs and
truncated pixel data, a NIfTI header that claims more voxels than the file has.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch

from recon_engine.data import limits
from recon_engine.data.header import parse_header
from recon_engine.errors import DataError, FileFormatError, HeaderError
from recon_engine.io.ismrmrd_read import read_ismrmrd_info, read_ismrmrd_readouts
from recon_engine.io.sorting import sort_readouts
from tests.conftest import ROOT, shared_data
from tests.engine import _rawfiles
from tests.engine.io._fuzz import fuzz

SAMPLE = ROOT / "sample_data" / "phantom_R2.h5"


def _copy(tmp_path: Path, src: Path = SAMPLE) -> Path:
    return Path(shutil.copyfile(src, tmp_path / src.name))


def _heap_offsets(path: Path) -> list[int]:
    """Byte offsets of the HDF5 global heap collections ("GCOL") of a file."""
    raw = path.read_bytes()
    out, at = [], raw.find(b"GCOL")
    while at >= 0:
        out.append(at)
        at = raw.find(b"GCOL", at + 1)
    return out


# ---------------------------------------------------------------- ISMRMRD / HDF5


def test_zeroed_heap_is_a_clean_error_not_a_hang(tmp_path: Path) -> None:
    # the fuzzer's hang: 64 KiB zeroed inside the global heap made HDF5 loop for ever
    p = _copy(tmp_path)
    raw = bytearray(p.read_bytes())
    raw[1173131 : 1173131 + 65536] = bytes(65536)
    p.write_bytes(bytes(raw))
    info = read_ismrmrd_info(p)  # the headers are intact and readable
    assert len(info.acquisitions) == 92
    with pytest.raises(FileFormatError, match="heap at byte"):
        read_ismrmrd_readouts(p)


def test_heap_signature_damaged_is_named(tmp_path: Path) -> None:
    p = _copy(tmp_path)
    raw = bytearray(p.read_bytes())
    heaps = _heap_offsets(p)
    assert len(heaps) > 1
    raw[heaps[-1] : heaps[-1] + 4] = b"XXXX"
    p.write_bytes(bytes(raw))
    with pytest.raises(FileFormatError, match=r"data damaged \(heap at byte \d+: no global heap"):
        read_ismrmrd_readouts(p)


def test_undamaged_file_reads_as_with_h5py() -> None:
    r = read_ismrmrd_readouts(SAMPLE)
    with h5py.File(SAMPLE, "r") as f:
        ds = f["dataset/data"]
        heads = ds.fields("head")[:]
        data = ds.fields("data")[:]
    assert np.array_equal(r.acquisitions.headers, heads)
    for i in (0, 17, 91):
        assert np.array_equal(r.samples[i].view(np.float32).reshape(-1), data[i])


def test_truncated_inside_records_is_a_clean_error(tmp_path: Path) -> None:
    p = _copy(tmp_path)
    p.write_bytes(p.read_bytes()[:1_530_000])  # cut inside the chunks of acquisition records
    with pytest.raises(FileFormatError):
        read_ismrmrd_readouts(p)


def _edit_heads(p: Path, **fields: int) -> None:
    with h5py.File(p, "r+") as f:
        ds = f["dataset/data"]
        heads = ds.fields("head")[:]
        for name, value in fields.items():
            heads["idx"][name][-1] = value
        rec = ds[-1]  # an imaging readout (the first ones are noise)
        rec["head"] = heads[-1]
        ds[ds.shape[0] - 1] = rec


def test_counter_65535_is_refused_before_allocating(tmp_path: Path) -> None:
    # it made sort_readouts allocate (65536, 8, 1, 128, 256) complex64 = 128 GiB
    p = _copy(tmp_path)
    _edit_heads(p, set=65535)
    with pytest.raises(DataError, match=r"set counter up to 65535.*92 readouts|implies .* readout positions"):
        sort_readouts(read_ismrmrd_readouts(p))


def test_phase_counter_65535_is_refused(tmp_path: Path) -> None:
    p = _copy(tmp_path)
    _edit_heads(p, kspace_encode_step_1=65535)
    with pytest.raises(DataError, match="k1 = 65536"):
        sort_readouts(read_ismrmrd_readouts(p))


def test_allocation_limit_is_checked_and_overridable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert limits.check_allocation((4, 8), np.complex64, "x") == 256
    with pytest.raises(DataError, match=r"x: would need an array of 65536 × 65536 × 16 \(512 GiB\)"):
        limits.check_allocation((65536, 65536, 16), np.complex64, "x")
    monkeypatch.setenv("MRRECON_MAX_ALLOCATION_GB", "0.000001")
    assert limits.allocation_limit() == 1073
    with pytest.raises(DataError, match=r"limit of 1\.05 kiB"):
        sort_readouts(read_ismrmrd_readouts(SAMPLE))
    monkeypatch.setenv("MRRECON_MAX_ALLOCATION_GB", "nan")
    assert limits.allocation_limit() == limits.MAX_ALLOCATION_BYTES


def test_small_sparse_grids_still_sort(tmp_path: Path) -> None:
    # 4 lines of 64 (R = 16) are real undersampling, not damage
    xml = _rawfiles.header(nx=32, ny=64)
    acqs = [_rawfiles.acquisition(np.ones((2, 32), np.complex64), k1) for k1 in (0, 16, 32, 48)]
    ks = sort_readouts(read_ismrmrd_readouts(_rawfiles.write(tmp_path / "sparse.h5", xml, acqs)))
    assert tuple(ks.data.shape) == (2, 1, 64, 32)
    assert int(ks.sampling_mask.sum()) == 4


def test_huge_readout_matrix_is_refused(tmp_path: Path) -> None:
    xml = _rawfiles.header(nx=32, ny=4).replace("<x>32</x>", "<x>65536</x>", 1)  # encodedSpace x
    acqs = [_rawfiles.acquisition(np.ones((2, 32), np.complex64), k1) for k1 in range(4)]
    with pytest.raises(DataError, match="readout axis of 65536 samples"):
        sort_readouts(read_ismrmrd_readouts(_rawfiles.write(tmp_path / "wide.h5", xml, acqs)))


# ---------------------------------------------------------------- header values


def _xml(**values: str) -> str:
    xml = _rawfiles.header()
    for tag, value in values.items():
        xml = xml.replace(f"<{tag}>", f"<{tag}>{value}<!--", 1).replace(f"</{tag}>", f"--></{tag}>", 1)
    return xml


@pytest.mark.parametrize("value", ["NaN", "inf", "-3", "abc", "1e30"])
def test_nonsense_receiver_channels_and_acceleration_are_ignored(value: str) -> None:
    channels = f"<receiverChannels>{value}</receiverChannels>"
    xml = _rawfiles.header().replace("<receiverChannels>2</receiverChannels>", channels)
    xml = xml.replace(
        "<trajectory>",
        f"<parallelImaging><accelerationFactor><kspace_encoding_step_1>{value}</kspace_encoding_step_1>"
        "<kspace_encoding_step_2>2</kspace_encoding_step_2></accelerationFactor></parallelImaging><trajectory>",
    )
    h = parse_header(xml)
    assert h.receiver_channels is None
    assert h.acceleration == (1, 1)  # z has one partition: R2 = 2 is impossible too


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("inf", "is not a size"),
        ("nan", "is not a size"),
        ("1e12", "is larger than 65536"),
        ("x", "is not a number"),
    ],
)
def test_nonsense_matrix_size_names_the_field(value: str, message: str) -> None:
    xml = _rawfiles.header().replace("<y>16</y>", f"<y>{value}</y>", 1)
    with pytest.raises(HeaderError, match=rf"encodedSpace/matrixSize/y = '{value}' {message}"):
        parse_header(xml)


def test_nonsense_encoding_limit_is_dropped() -> None:
    xml = _rawfiles.header().replace("<maximum>15</maximum>", "<maximum>inf</maximum>", 1)
    assert parse_header(xml).limit("kspace_encoding_step_1") is None


# ---------------------------------------------------------------- twix


def _fake_vb(tmp_path: Path, body: bytes) -> Path:
    """A VB twix file: 10240-byte protocol header (length, 1 entry, a name), then ``body``."""
    head = (10240).to_bytes(4, "little") + (1).to_bytes(4, "little") + b"Config\x00"
    p = tmp_path / "meas.dat"
    p.write_bytes(head.ljust(10240, b"\x00") + body)
    return p


def test_twix_zeroed_readout_headers_are_refused(tmp_path: Path) -> None:
    pytest.importorskip("twixtools")
    from recon_engine.io._twix_file import parse_twix

    p = _fake_vb(tmp_path, bytes(4096))  # twixtools stepped by 0 bytes here for ever
    with pytest.raises(FileFormatError, match="blank \\(zeroed\\) readout header at byte 10240"):
        parse_twix(p)


def test_twix_syncdata_of_length_zero_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("twixtools")
    from recon_engine.io._twix_file import parse_twix

    mdh = bytearray(128)
    mdh[20:28] = (1 << 5).to_bytes(8, "little")  # SYNCDATA with a DMA length of 0
    p = _fake_vb(tmp_path, bytes(mdh) * 8)
    with pytest.raises(FileFormatError, match="does not fit the measurement"):
        parse_twix(p)


def _twix_mdh_edit(src: Path, dst: Path, which: int, offset: int, value: bytes) -> None:
    """Write ``value`` at ``offset`` inside readout header number ``which`` of a VD/VE file."""
    raw = bytearray(src.read_bytes())
    _, heads = fuzz()._twix_blocks(bytes(raw))
    raw[heads[which] + offset : heads[which] + offset + len(value)] = value
    dst.write_bytes(bytes(raw))


def test_twix_oversized_readout_header_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("twixtools")
    from recon_engine.io.twix import read_twix_info

    p = tmp_path / "gre.dat"
    _twix_mdh_edit(shared_data("twixtools_examples", "gre.dat"), p, 10, 48, (65535).to_bytes(2, "little"))
    with pytest.raises(FileFormatError, match=r"declares 2 channels × 65535 samples"):
        read_twix_info(p)


def test_twix_zeroed_block_is_a_clean_error(tmp_path: Path) -> None:
    pytest.importorskip("twixtools")
    from recon_engine.io.twix import read_twix

    raw = bytearray(shared_data("twixtools_examples", "epi.dat").read_bytes())
    _, heads = fuzz()._twix_blocks(bytes(raw))
    raw[heads[30] - 100 : heads[30] + 4000] = bytes(4100)  # a block across a readout header
    p = tmp_path / "epi.dat"
    p.write_bytes(bytes(raw))
    with pytest.raises(FileFormatError, match="damaged twix file"):
        read_twix(p)


def test_twix_damaged_counter_is_refused_before_the_reconstruction(tmp_path: Path) -> None:
    pytest.importorskip("twixtools")
    from recon_engine.io.twix import read_twix

    p = tmp_path / "epi.dat"
    # Counter.Set (offset 52 + 14) = 32767 in one readout: a 6 GiB grid before the guard
    _twix_mdh_edit(shared_data("twixtools_examples", "epi.dat"), p, 20, 66, (32767).to_bytes(2, "little"))
    with pytest.raises(DataError, match="set counter up to 32767"):
        read_twix(p)


# ---------------------------------------------------------------- Pulseq

_SEQ = """[VERSION]
major 1
minor 4
revision 1

[DEFINITIONS]
AdcRasterTime 1e-07
BlockDurationRaster 1e-05
GradientRasterTime 1e-05
RadiofrequencyRasterTime 1e-06
FOV 0.2 0.2 0.005

# Format of blocks:
# NUM DUR RF  GX  GY  GZ  ADC  EXT
[BLOCKS]
1 100   0   1   0   0   0  0

# Format of arbitrary gradients:
#   time_shape_id of 0 means default timing (stepping with grad_raster starting at 1/2 of grad_raster)
# id amplitude amp_shape_id time_shape_id delay
# ..      Hz/m       ..         ..          us
[GRADIENTS]
1 100000 1 0 0

# Sequence Shapes
[SHAPES]

shape_id 1
num_samples {n}
0
0.01
0.01
{runs}
"""


def _seq(tmp_path: Path, n: int = 100, runs: int = 97) -> Path:
    p = tmp_path / "grad.seq"
    p.write_text(_SEQ.format(n=n, runs=runs))
    return p


def test_seq_shape_of_the_right_length_reads(tmp_path: Path) -> None:
    from recon_engine.io.pulseq import read_seq

    assert read_seq(_seq(tmp_path)).n_blocks == 1


@pytest.mark.parametrize(("n", "runs"), [(101, 97), (99, 97), (10**9, 97), (100, 10**9)])
def test_seq_shape_of_the_wrong_length_is_refused(tmp_path: Path, n: int, runs: int) -> None:
    from recon_engine.io.pulseq import read_seq

    with (
        warnings.catch_warnings(),  # no ResourceWarning for pypulseq's file, no temporary folder
    ):
        warnings.simplefilter("error")
        with pytest.raises(FileFormatError, match="shape 1"):
            read_seq(_seq(tmp_path, n, runs))


def test_seq_error_leaves_no_open_file_and_no_temporary_copy(tmp_path: Path) -> None:
    import gc
    import tempfile

    from recon_engine.io.pulseq import read_seq

    before = set(Path(tempfile.gettempdir()).glob("mrrecon_seq_*"))
    p = _seq(tmp_path)
    p.write_text(p.read_text().replace("1 100000 1 0 0", "1 100000 1 0 x"))  # pypulseq raises inside read
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        with pytest.raises(FileFormatError, match="not a readable Pulseq"):
            read_seq(p)
        gc.collect()
    assert set(Path(tempfile.gettempdir()).glob("mrrecon_seq_*")) == before


def test_seq_non_numeric_definition_is_a_clean_error(tmp_path: Path) -> None:
    # pypulseq kept the text and multiplied it: a ValueError deep in the block scan
    from recon_engine.io.pulseq import read_seq

    p = _seq(tmp_path)
    p.write_text(p.read_text().replace("BlockDurationRaster 1e-05", "BlockDurationRaster abc"))
    with pytest.raises(FileFormatError, match=r"\[DEFINITIONS\] BlockDurationRaster = 'abc' is not a raster"):
        read_seq(p)


@pytest.mark.parametrize(("field", "value"), [(0, "nan"), (0, "999999999"), (0, "0"), (1, "-1"), (2, "inf")])
def test_seq_adc_with_impossible_numbers_is_refused_before_allocating(
    tmp_path: Path, field: int, value: str
) -> None:
    # fuzz seed 7: num_samples NaN crashed the block scan; 999999999 made pypulseq's k-space
    # calculation take 8 GB and 17-50 s before it failed
    from recon_engine.io.pulseq import read_seq

    src = shared_data("koma_pulseq_read_comparison", "v1.5", "gre.seq")
    lines = src.read_text().splitlines()
    at = lines.index("[ADC]") + 1
    while lines[at].startswith("#") or not lines[at].strip():
        at += 1
    tokens = lines[at].split()
    tokens[1 + field] = value  # id, num, dwell(ns), delay(us), ...
    lines[at] = " ".join(tokens)
    p = tmp_path / "gre.seq"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(FileFormatError, match=r"ADC event \d+ has"):
        read_seq(p)


# ---------------------------------------------------------------- image series


def _dicom_dir(tmp_path: Path) -> Path:
    d = tmp_path / "dicom"
    fuzz()._write_dicom(d, fuzz()._series())
    return d


def test_dicom_unknown_vr_names_the_file(tmp_path: Path) -> None:
    from recon_engine.qmri.series import load_series

    d = _dicom_dir(tmp_path)
    f = d / "IM00003.dcm"
    raw = bytearray(f.read_bytes())
    at = raw.find(b"\x18\x00\x80\x00DS")  # RepetitionTime
    raw[at + 4 : at + 6] = b"ZZ"
    f.write_bytes(bytes(raw))
    with pytest.raises(FileFormatError, match=r"IM00003.dcm: damaged DICOM file \(NotImplementedError"):
        load_series(d)


def test_dicom_truncated_pixel_data_names_the_file(tmp_path: Path) -> None:
    from recon_engine.qmri.series import load_series

    d = _dicom_dir(tmp_path)
    f = d / "IM00005.dcm"
    f.write_bytes(f.read_bytes()[:-300])
    with pytest.raises(FileFormatError, match=r"IM00005.dcm: damaged DICOM file"):
        load_series(d)


def test_nifti_claiming_more_voxels_than_stored_is_refused(tmp_path: Path) -> None:
    from recon_engine.io.nifti import read_nifti

    p = tmp_path / "t.nii"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 1, 6), np.float32), np.eye(4)), p)
    raw = bytearray(p.read_bytes())
    raw[48:50] = (32767).to_bytes(2, "little")  # dim[4]: 6 -> 32767 volumes
    p.write_bytes(bytes(raw))
    with pytest.raises(FileFormatError, match="truncated NIfTI file: its header declares 8 × 8 × 1 × 32767"):
        read_nifti(p)


# ---------------------------------------------------------------- reconstruction guards


def test_pipe_menon_refuses_a_huge_grid_before_allocating() -> None:
    from recon_engine.calibration._pipe_menon import nufft_fixed_point

    pts = torch.zeros(4, 3)
    with pytest.raises(DataError, match=r"2× oversampled grid \(131072, 131072\)"):
        nufft_fixed_point(pts, (65536, 65536), 1, 1.0, torch.device("cpu"))


def test_nibabel_header_reports_are_warnings_or_nothing_not_stderr_text(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # fuzz seed 7: 199 NIfTI cases printed nibabel's own log line ("data code -1 not recognized;
    # not attempting fix") before the one-line error
    from recon_engine.io.nifti import read_nifti

    p = tmp_path / "t.nii"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 1, 6), np.float32), np.eye(4)), p)
    raw = bytearray(p.read_bytes())
    raw[70:72] = (-1).to_bytes(2, "little", signed=True)  # datatype -1
    p.write_bytes(bytes(raw))
    with pytest.raises(FileFormatError, match="data code -1 not recognized"):
        read_nifti(p)
    assert capfd.readouterr().err == ""
