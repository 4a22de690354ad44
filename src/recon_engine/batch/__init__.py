"""Batch reconstruction: one recipe over many raw files, one Dask task per file.

The recipe is a reconstruction :class:`~recon_engine.recipe.Recipe` (raw files in, images
out) or a :class:`~recon_engine.qmri.fit_recipe.FitRecipe` (image series in, qMRI maps out).

:func:`run_batch` (and its generator form :func:`run_batch_steps`) expands the inputs,
skips up-to-date outputs with ``resume=True``, runs the rest on a Dask cluster (a local
one by default), and returns a :class:`BatchReport`. Every output gets a sidecar JSON
with the recipe, its hash and the package versions; ``batch_report.json`` lists every
file's status, time, output and error. See ``docs/scale.md``.
"""

from recon_engine.batch.fit import FIT_OUTPUT_FORMATS, load_batch_recipe, run_fit_steps
from recon_engine.batch.inputs import OUTPUT_FORMATS, InputEntry, expand_inputs, output_names
from recon_engine.batch.report import REPORT_NAME, BatchEvent, BatchReport, FileResult
from recon_engine.batch.run import default_workers, run_batch, run_batch_steps
from recon_engine.batch.task import Job, recipe_hash, reconstruct_file, sidecar_path, up_to_date
from recon_engine.qmri.fit_recipe import FitRecipe

__all__ = [
    "FIT_OUTPUT_FORMATS",
    "OUTPUT_FORMATS",
    "REPORT_NAME",
    "BatchEvent",
    "BatchReport",
    "FileResult",
    "FitRecipe",
    "InputEntry",
    "Job",
    "default_workers",
    "expand_inputs",
    "load_batch_recipe",
    "output_names",
    "recipe_hash",
    "reconstruct_file",
    "run_batch",
    "run_batch_steps",
    "run_fit_steps",
    "sidecar_path",
    "up_to_date",
]
