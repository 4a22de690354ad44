from __future__ import annotations

import pytest

from recon_engine.data.header import header_tree, parse_header
from recon_engine.errors import HeaderError

XML = """<?xml version="1.0"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">
  <acquisitionSystemInformation><receiverChannels>8</receiverChannels>
    <systemFieldStrength_T>2.89</systemFieldStrength_T></acquisitionSystemInformation>
  <encoding>
    <encodedSpace><matrixSize><x>256</x><y>128</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>440</x><y>220</y><z>5</z></fieldOfView_mm></encodedSpace>
    <reconSpace><matrixSize><x>128</x><y>128</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>220</x><y>220</y><z>5</z></fieldOfView_mm></reconSpace>
    <encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>99</maximum>
      <center>64</center></kspace_encoding_step_1></encodingLimits>
    <trajectory>cartesian</trajectory>
    <parallelImaging><accelerationFactor><kspace_encoding_step_1>2</kspace_encoding_step_1>
      <kspace_encoding_step_2>1</kspace_encoding_step_2></accelerationFactor>
      <calibrationMode>embedded</calibrationMode></parallelImaging>
  </encoding>
  <sequenceParameters><TR>500</TR><TE>10</TE><TE>20</TE><flipAngle_deg>90</flipAngle_deg></sequenceParameters>
</ismrmrdHeader>"""


def test_parse_header_fields() -> None:
    h = parse_header(XML)
    assert h.encoded_matrix == (256, 128, 1)
    assert h.recon_matrix == (128, 128, 1)
    assert h.encoded_fov_mm == (440.0, 220.0, 5.0)
    assert h.readout_oversampling == pytest.approx(2.0)
    assert h.limits["kspace_encoding_step_1"].center == 64
    assert h.limits["kspace_encoding_step_1"].maximum == 99
    assert h.acceleration == (2, 1)
    assert h.calibration_mode == "embedded"
    assert h.receiver_channels == 8
    assert h.te_ms == (10.0, 20.0)
    assert h.tr_ms == (500.0,)
    assert h.flip_angle_deg == (90.0,)
    assert h.field_strength_t == pytest.approx(2.89)
    assert h.is_cartesian


def test_header_without_encoding_is_an_error() -> None:
    xml = '<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD"><version>1</version></ismrmrdHeader>'
    with pytest.raises(HeaderError, match="no <encoding>"):
        parse_header(xml)


def test_malformed_xml_is_an_error() -> None:
    with pytest.raises(HeaderError, match="not valid XML"):
        parse_header("<ismrmrdHeader><encoding>")


def test_encoding_without_recon_space_is_an_error() -> None:
    xml = XML.split("<reconSpace>")[0] + XML.split("</reconSpace>")[1]
    with pytest.raises(HeaderError, match="reconSpace"):
        parse_header(xml)


def test_fov_in_metres_is_converted_with_a_warning() -> None:
    xml = XML.replace("<x>440</x>", "<x>0.44</x>").replace(
        "<y>220</y><z>5</z></fieldOfView_mm></encodedSpace>",
        "<y>0.22</y><z>0.005</z></fieldOfView_mm></encodedSpace>",
    )
    xml = xml.replace("<x>220</x><y>220</y><z>5</z>", "<x>0.22</x><y>0.22</y><z>0.005</z>")
    with pytest.warns(UserWarning, match="metres"):
        h = parse_header(xml)
    assert h.encoded_fov_mm == pytest.approx((440.0, 220.0, 5.0))
    assert h.recon_fov_mm == pytest.approx((220.0, 220.0, 5.0))


def test_header_tree_keeps_repeated_elements() -> None:
    t = header_tree(XML)
    assert t["sequenceParameters"]["TE"] == ["10", "20"]
    assert t["encoding"]["encodedSpace"]["matrixSize"]["x"] == "256"
