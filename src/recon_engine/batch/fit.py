"""Fit recipes as batch recipes: one qMRI fit over many inputs (image series or raw k-space).

The recipe is a :class:`~recon_engine.qmri.fit_recipe.FitRecipe` (``mrrecon_fit_recipe: 1``,
the YAML that ``mrrecon fit INPUT --save-recipe`` and the qMRI dock's "Save recipe…" write; its
layout is documented there). Without a method every input is an image series fitted as
``mrrecon fit SERIES`` does; with a mapping method every input is multi-contrast raw k-space,
as ``mrrecon fit RAW --method``. The maps of one input are written by
:func:`recon_engine.qmri.write_maps`: one ``.npz`` (format ``npz``) or a directory of NIfTI
maps (format ``nii.gz``: ``<stem>_maps/t1.nii.gz``).
"""

from __future__ import annotations

import os
from typing import Any

from recon_engine.progress import Steps
from recon_engine.qmri.fit_recipe import FitRecipe, read_yaml

__all__ = ["FIT_OUTPUT_FORMATS", "load_batch_recipe", "run_fit_steps"]

#: Output formats of a fit batch: one ``.npz`` per input, or a directory of NIfTI maps.
FIT_OUTPUT_FORMATS: tuple[str, ...] = ("npz", "nii.gz")


def load_batch_recipe(path: str | os.PathLike[str]) -> Any:
    """Read a recipe YAML of either kind: a :class:`~recon_engine.recipe.Recipe` or a :class:`FitRecipe`.

    Raises
    ------
    FileFormatError
        Missing file, invalid YAML, neither kind of recipe.
    ParameterError
        Unknown method, model or options.
    """
    from recon_engine.recipe import load_recipe

    d = read_yaml(path)
    if isinstance(d, dict) and "mrrecon_fit_recipe" in d:
        return FitRecipe.from_dict(d, str(path))
    return load_recipe(path)


def run_fit_steps(recipe: FitRecipe, input_file: str | os.PathLike[str]) -> Steps[tuple[Any, Any]]:
    """Fit one input with a fit recipe (generator); returns ``(FitResult, affine or None)``.

    Image series are read with :func:`recon_engine.qmri.load_series` and fitted with
    :func:`recon_engine.qmri.fit_steps`; raw inputs are read with :func:`recon_engine.read`
    and mapped with :func:`recon_engine.qmri.model_based.map_raw_steps`, exactly as
    ``mrrecon fit`` does.
    """
    path = str(input_file)
    if recipe.raw:
        from recon_engine.api import read
        from recon_engine.qmri.model_based import map_raw_steps

        assert recipe.method is not None
        kspace = read(path)
        result = yield from map_raw_steps(
            kspace, recipe.model, recipe.method, times=recipe.times, flip_angles=recipe.flip_angles,
            tr=recipe.tr, mask_threshold=recipe.mask_threshold, device=recipe.device,
            **recipe.method_options, **recipe.model_options,
        )  # fmt: skip
        return result, None
    from recon_engine.qmri import fit_steps, load_series

    series = load_series(path, times=recipe.times, flip_angles=recipe.flip_angles, tr=recipe.tr)
    result = yield from fit_steps(
        series,
        recipe.model,
        mask_threshold=recipe.mask_threshold,
        max_iterations=recipe.max_iterations,
        device=recipe.device,
        **recipe.model_options,
    )
    return result, series.affine
