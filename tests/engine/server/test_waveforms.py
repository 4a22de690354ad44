"""MRD waveforms (id 1026, physiology) in a stream: sent by the client, set apart by the server."""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from recon_engine.cli import main
from recon_engine.server import MRDServer, ServerSettings, file_messages, read_waveforms, stream_file
from recon_engine.server.protocol import MessageId, read_message
from tests.conftest import ROOT

pytestmark = pytest.mark.usefixtures("one_torch_thread")

R2 = ROOT / "sample_data" / "phantom_R2.h5"
#: Time stamps (ticks) of the waveforms written into the copy (the sample's acquisitions: 0, 100, ... 9100).
STAMPS = (0, 450, 20000)


@pytest.fixture(scope="module")
def with_waveforms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The R = 2 sample with three ECG-like waveforms (2 channels × 5, 1 × 7, 3 × 4 samples)."""
    with warnings.catch_warnings():
        import ismrmrd
    path = tmp_path_factory.mktemp("wave") / "r2_waveforms.h5"
    shutil.copyfile(R2, path)
    ds = ismrmrd.Dataset(str(path), "dataset", False)
    try:
        for k, (stamp, shape) in enumerate(zip(STAMPS, [(2, 5), (1, 7), (3, 4)], strict=True)):
            data = (np.arange(np.prod(shape), dtype=np.uint32) + 1000 * k).reshape(shape)
            ds.append_waveform(ismrmrd.Waveform.from_array(data, time_stamp=stamp, waveform_id=k))
    finally:
        ds.close()
    return path


@pytest.fixture(scope="module")
def server() -> Iterator[MRDServer]:
    srv = MRDServer(("127.0.0.1", 0), ServerSettings(device="cpu"), idle_timeout_s=30)
    srv.start_background()
    try:
        yield srv
    finally:
        srv.stop()


def _record(server: MRDServer, n: int) -> dict[str, object]:
    """The server's record of its ``n``-th connection (written just after the close it sends)."""
    end = time.monotonic() + 10
    while len(server.finished) < n and time.monotonic() < end:
        time.sleep(0.01)
    return server.finished[n - 1]


def _ids(messages: list[bytes]) -> list[int]:
    return [int.from_bytes(m[:2], "little") for m in messages]


def test_waveforms_are_read_and_merged_into_the_stream_by_time_stamp(with_waveforms: Path) -> None:
    waves = read_waveforms(with_waveforms)
    assert [w[2] for w in waves] == list(STAMPS)
    assert [w[1].size for w in waves] == [10, 7, 12]
    assert read_waveforms(R2) == []
    msgs = [m for m, _ in file_messages(with_waveforms, config="direct")]
    ids = _ids(msgs)
    acq_positions = [i for i, k in enumerate(ids) if k == MessageId.ACQUISITION]
    wave_positions = [i for i, k in enumerate(ids) if k == MessageId.WAVEFORM]
    assert len(acq_positions) == 92 and len(wave_positions) == 3
    # stamp 0: before the first acquisition (stamp 0); 450: after the 5th (400), before the 6th (500)
    # 20000: after the last acquisition (9100), just before the close message
    assert wave_positions == [acq_positions[0] - 1, acq_positions[5] - 1, len(msgs) - 2]
    assert ids[-1] == MessageId.CLOSE
    decoded = [read_message(_Reader(msgs[i])) for i in wave_positions]
    for msg, (_, data, stamp) in zip(decoded, waves, strict=True):
        assert msg.id is MessageId.WAVEFORM
        assert int(msg.item.time_stamp) == stamp
        np.testing.assert_array_equal(msg.item.data.ravel(), data)
    without = [m for m, _ in file_messages(with_waveforms, config="direct", waveforms=False)]
    assert MessageId.WAVEFORM not in _ids(without) and len(without) == len(msgs) - 3


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def __call__(self, n: int) -> bytes:
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out


def test_server_sets_waveforms_apart_and_reconstructs_as_without(
    server: MRDServer, with_waveforms: Path
) -> None:
    before = len(server.finished)
    plain = stream_file(R2, port=server.port, config="direct", timeout_s=60)
    result = stream_file(with_waveforms, port=server.port, config="direct", timeout_s=60)
    assert result.closed and result.error is None and result.texts == []
    assert (result.waveforms, result.acquisitions) == (3, 92)
    assert len(result.images) == 1
    np.testing.assert_array_equal(result.images[0].data, plain.images[0].data)
    assert _record(server, before + 1)["waveforms"] == 0
    record = _record(server, before + 2)
    assert record["outcome"] == "closed"
    assert record["waveforms"] == 3 and record["messages"] == {
        "CONFIG_FILE": 1,
        "METADATA": 1,
        "ACQUISITION": 92,
        "WAVEFORM": 3,
        "CLOSE": 1,
    }


def test_cli_stream_sends_waveforms_unless_told_not_to(
    server: MRDServer, with_waveforms: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = str(server.port)
    before = len(server.finished)
    out = str(tmp_path / "a.npy")
    assert main(["stream", str(with_waveforms), "--port", port, "--config", "direct", "-o", out]) == 0
    assert "3 waveforms" in capsys.readouterr().err
    assert _record(server, before + 1)["waveforms"] == 3
    args = ["stream", str(with_waveforms), "--port", port, "--config", "direct", "-o", out, "-q"]
    assert main([*args, "--no-waveforms"]) == 0
    assert _record(server, before + 2)["waveforms"] == 0
