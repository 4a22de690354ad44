"""Tiny ISMRMRD files written with the ``ismrmrd`` Python package for reader tests."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import ismrmrd
import numpy as np

HEADER = """<?xml version="1.0"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">
  <acquisitionSystemInformation><receiverChannels>{coils}</receiverChannels></acquisitionSystemInformation>
  <encoding>
    <encodedSpace><matrixSize><x>{nx}</x><y>{ny}</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>{fovx}</x><y>200</y><z>5</z></fieldOfView_mm></encodedSpace>
    <reconSpace><matrixSize><x>{rx}</x><y>{ny}</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>200</x><y>200</y><z>5</z></fieldOfView_mm></reconSpace>
    <encodingLimits>
      <kspace_encoding_step_1><minimum>0</minimum><maximum>{k1max}</maximum><center>{k1c}</center>
      </kspace_encoding_step_1>
      <slice><minimum>0</minimum><maximum>{smax}</maximum><center>0</center></slice>
    </encodingLimits>
    <trajectory>cartesian</trajectory>
  </encoding>
</ismrmrdHeader>"""


def header(
    nx: int = 32,
    ny: int = 16,
    coils: int = 2,
    oversampling: int = 1,
    k1max: int | None = None,
    k1c: int | None = None,
    slices: int = 1,
) -> str:
    return HEADER.format(
        nx=nx * oversampling,
        ny=ny,
        rx=nx,
        fovx=200 * oversampling,
        coils=coils,
        k1max=ny - 1 if k1max is None else k1max,
        k1c=ny // 2 if k1c is None else k1c,
        smax=slices - 1,
    )


def acquisition(
    data: np.ndarray,
    k1: int,
    *,
    flags: Iterable[int] = (),
    slice_: int = 0,
    centre: int | None = None,
    position: tuple[float, float, float] = (0.0, 0.0, 0.0),
    read=(1.0, 0.0, 0.0),
    phase=(0.0, 1.0, 0.0),
    sl=(0.0, 0.0, 1.0),
    traj: np.ndarray | None = None,
) -> ismrmrd.Acquisition:
    a = ismrmrd.Acquisition.from_array(np.ascontiguousarray(data, dtype=np.complex64), traj)
    a.idx.kspace_encode_step_1 = k1
    a.idx.slice = slice_
    a.center_sample = data.shape[-1] // 2 if centre is None else centre
    a.position[:] = position
    a.read_dir[:] = read
    a.phase_dir[:] = phase
    a.slice_dir[:] = sl
    for f in flags:
        a.set_flag(f)
    return a


def write(path: Path, xml: str, acqs: Iterable[ismrmrd.Acquisition]) -> Path:
    ds = ismrmrd.Dataset(str(path), "dataset", create_if_needed=True)
    ds.write_xml_header(xml)
    for a in acqs:
        ds.append_acquisition(a)
    ds.close()
    return path
