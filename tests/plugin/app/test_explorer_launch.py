"""``mrrecon gui --explorer-settings … --screenshot``: the explorer set from JSON, waited for, pictured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from napari_mrrecon.app.launch import parse_explorer_settings, populate_explorer
from recon_engine.cli import main as cli_main
from tests.plugin.conftest import assert_screenshot


def test_cli_screenshot_of_the_explorer(tmp_path: Path) -> None:
    """The documented command: exit 0 and a PNG of at least 800 × 600 pixels."""
    shot = tmp_path / "teaching.png"
    settings = json.dumps({"n": 64, "coils": 4, "acceleration": 4, "pattern": "regular"})
    code = (
        "import sys; from recon_engine.cli import main; "
        f"sys.exit(main(['gui', '--no-sample', '--explorer-settings', {settings!r}, "
        f"'--screenshot', {str(shot)!r}, '--quit']))"
    )
    assert_screenshot(code, shot, timeout_s=180)


@pytest.mark.parametrize("text", ["{bad json", "[1, 2]"])
def test_cli_rejects_bad_settings_json(text: str, capsys: Any) -> None:
    """Not JSON, or not an object: one line on stderr, exit 2, no window."""
    assert cli_main(["gui", "--explorer-settings", text, "--quit"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--explorer-settings" in err[0]
    with pytest.raises(ValueError, match="explorer-settings"):
        parse_explorer_settings(text)


def test_populate_explorer_movie_visible_and_help(viewer: Any) -> None:
    """Settings with a movie, visible views and a selected view: no error, movie stacks of 6
    frames, only the listed layers visible, the selected view's explanation shown."""
    from recon_engine.teaching import EXPLANATIONS

    settings = {
        "n": 64,
        "coils": 4,
        "acceleration": 3,
        "pattern": "random",
        "acquisition_movie": "centric",
        "movie_frames": 6,
        "visible": ["mask", "aliased", "acquisition_image"],
        "select": "aliased",
    }
    assert populate_explorer(viewer, [], settings) == []
    widget = viewer.window.dock_widgets["K-space Explorer (napari-mrrecon)"]
    assert widget.layers.layer("acquisition_image").data.shape == (6, 64, 64)
    visible = sorted(layer.name for layer in viewer.layers if layer.visible)
    assert visible == [
        "acquisition: image (explorer)",
        "aliased image (explorer)",
        "sampling mask (explorer)",
    ]
    mask = np.asarray(widget.layers.layer("mask").data)
    assert mask.mean() == pytest.approx(1 / 3, abs=0.05)
    assert EXPLANATIONS["aliased"][:40] in widget.help.text()


def test_populate_explorer_reports_bad_settings(viewer: Any) -> None:
    """An unknown setting is reported (the caller exits 2) and the explorer still shows views."""
    errors = populate_explorer(viewer, [], {"n": 64, "coils": 4, "acceleraton": 4})
    assert len(errors) == 1
    assert "acceleraton" in errors[0]
