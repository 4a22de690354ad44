"""Screenshot of the qMRI Fitting dock for the docs: ``docs/images/qmri.png``.

Opens the simulated inversion-recovery sample (tissue phantom, 8 TIs), fits T1 with the dock,
draws two ROIs (white and grey matter), shows their statistics, clicks a white-matter voxel
so that its signal and fitted curve are plotted, and saves the whole window.

Run under Xvfb::

    xvfb-run -a /work/venv/bin/python scripts/make_qmri_screenshot.py [docs/images/qmri.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

PLUGIN = "napari-mrrecon"


def main(out: str = "docs/images/qmri.png") -> Path:
    """Build the scene and write the screenshot to ``out``."""
    import napari
    from scipy.ndimage import binary_erosion

    from napari_mrrecon.app.launch import _settle, _wait_for_run
    from recon_engine.simulate.phantom import TISSUES, tissue_maps

    viewer = napari.Viewer(show=True)
    viewer.window.resize(1500, 950)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "qMRI Fitting")
    widget.device.setCurrentText("cpu")
    (series,) = viewer.open_sample(PLUGIN, "qmri_ir")
    series.visible = False
    _wait_for_run(widget)

    labels = tissue_maps(series.data.shape[-1])["labels"]
    names = list(TISSUES)
    # ROI centres well inside white and grey matter (eroded tissue masks)
    wm = np.argwhere(binary_erosion(labels == names.index("white_matter"), iterations=6))
    gm = np.argwhere(binary_erosion(labels == names.index("grey_matter"), iterations=5))
    rois = [
        np.array([[c[0] - 4, c[1] - 4], [c[0] - 4, c[1] + 4], [c[0] + 4, c[1] + 4], [c[0] + 4, c[1] - 4]])
        for c in (wm[len(wm) // 3], gm[len(gm) // 2])
    ]
    viewer.add_shapes(rois, shape_type="rectangle", name="ROIs", edge_color="cyan", face_color="transparent")
    widget.roi.roi_choice.setCurrentText("ROIs")
    widget.compute_statistics()
    viewer.layers.selection.active = viewer.layers["T1 [ms]"]
    y, x = wm[len(wm) // 3]
    widget.show_voxel((int(y), int(x)))
    _settle(10)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(path), canvas_only=False)
    viewer.close()
    return path


if __name__ == "__main__":
    print(main(*sys.argv[1:2]))
