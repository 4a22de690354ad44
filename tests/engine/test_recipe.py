from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import recon_engine as mr
from recon_engine.cli import main
from recon_engine.errors import DataError, FileFormatError, ParameterError
from recon_engine.progress import run
from recon_engine.recipe import Recipe, load_recipe, run_recipe_steps
from recon_engine.simulate.sample_data import sample_path


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    dst = tmp_path / "scan.h5"
    shutil.copy(sample_path("phantom_R2.h5"), dst)
    return dst


def test_recipe_replays_bit_for_bit(raw: Path, tmp_path: Path) -> None:
    out1, out2, recipe = tmp_path / "a.npy", tmp_path / "b.npy", tmp_path / "r.yaml"
    args = ["recon", str(raw), "-o", str(out1), "--combine", "adaptive", "--device", "cpu"]
    assert main([*args, "--save-recipe", str(recipe), "-q"]) == 0
    d = yaml.safe_load(recipe.read_text())
    assert d["mrrecon_recipe"] == 1
    assert d["reconstruct"] == {"method": "direct", "device": "cpu", "options": {"combine": "adaptive"}}
    assert len(d["input"]["sha256"]) == 64
    assert {"recon_engine", "torch", "numpy", "python"} <= set(d["environment"])
    assert main(["run", str(recipe), "-o", str(out2), "-q"]) == 0
    a, b = np.load(out1), np.load(out2)
    assert a.dtype == np.complex64
    assert np.array_equal(a, b)  # bit for bit on the CPU


def test_recipe_python_api_and_copy_as_python(raw: Path, tmp_path: Path) -> None:
    r = Recipe.create(raw, method="direct", options={"combine": "rss"}, device="cpu")
    path = r.save(tmp_path / "r.yaml")
    again = load_recipe(path)
    assert again == r
    img = run(run_recipe_steps(again))
    assert img.meta["recipe"]["reconstruct"]["method"] == "direct"
    namespace: dict[str, object] = {}
    exec(r.to_python(), namespace)  # the "Copy as Python" snippet runs and gives the same image
    image = namespace["image"]
    assert isinstance(image, mr.ImageData)
    assert np.array_equal(image.numpy(), img.numpy())


def test_recipe_on_another_input_and_changed_input(raw: Path, tmp_path: Path) -> None:
    r = Recipe.create(raw, options={"combine": "rss"}, device="cpu")
    other = tmp_path / "other.h5"
    shutil.copy(sample_path("phantom_full.h5"), other)
    img = run(run_recipe_steps(r, input_file=other))
    assert img.shape == (1, 1, 128, 128)
    raw.write_bytes(other.read_bytes())  # the recorded input changed
    with pytest.raises(DataError, match="changed since the recipe was saved"):
        run(run_recipe_steps(r))


def test_bad_recipes(tmp_path: Path, raw: Path) -> None:
    with pytest.raises(ParameterError, match="has no option"):
        Recipe.create(raw, method="direct", options={"iterations": 3})
    with pytest.raises(FileFormatError, match="no such recipe"):
        load_recipe(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("mrrecon_recipe: [1\n")
    with pytest.raises(FileFormatError, match="not valid YAML"):
        load_recipe(bad)
    bad.write_text("mrrecon_recipe: 7\ninput: {file: x}\nreconstruct: {method: direct}\n")
    with pytest.raises(FileFormatError, match="version 7"):
        load_recipe(bad)
    bad.write_text("mrrecon_recipe: 1\ninput: {file: x}\n")
    with pytest.raises(FileFormatError, match="reconstruct"):
        load_recipe(bad)


def test_cli_rejects_options_the_method_does_not_take(
    raw: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["recon", str(raw), "-o", str(tmp_path / "x.npy"), "--iterations", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no option --iterations" in err[0]
    assert main(["run", str(tmp_path / "missing.yaml"), "-o", str(tmp_path / "y.npy")]) == 2
