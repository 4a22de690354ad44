"""The K-space Explorer's engine: settings in, every linked view out.

:func:`explore` returns all views at once. For a zero-filled Cartesian setting without a partial
Fourier fill or g-factor it needs FFTs only (see :mod:`~recon_engine.teaching.acquire`), fast
enough to follow a slider; :func:`explore_steps` is the generator form for the iterative
reconstructions (SENSE, CS), GRAPPA, g-factor maps and radial sampling, and with
``keep_iterates`` it also returns every solver iterate (the iteration movie).

Example
-------
>>> from recon_engine.teaching import ExplorerSettings, ExplorerSource, explore
>>> source = ExplorerSource.phantom(128)
>>> views = explore(source, ExplorerSettings(acceleration=4, calibration=0))
>>> views.metrics["acceleration"]
4.0
"""

from __future__ import annotations

import numpy as np

from recon_engine.device import DeviceLike
from recon_engine.progress import ProgressCallback, ProgressEvent, Steps, run
from recon_engine.teaching._recon import gfactor_for_steps, recon_steps
from recon_engine.teaching._views import add_gfactor, make_views
from recon_engine.teaching.acquire import acquire, combine_natural, zero_filled_natural
from recon_engine.teaching.radial import radial_steps
from recon_engine.teaching.settings import ExplorerSettings, ExplorerViews, check_settings
from recon_engine.teaching.source import ExplorerSource

__all__ = ["explore", "explore_steps"]


def explore(
    source: ExplorerSource,
    settings: ExplorerSettings,
    *,
    device: DeviceLike = "cpu",
    progress: ProgressCallback | None = None,
) -> ExplorerViews:
    """All views of ``source`` acquired and reconstructed with ``settings``.

    Parameters
    ----------
    source
        The fully sampled data.
    settings
        The controls.
    device
        Where the iterative reconstructions run (the FFT-only path always runs on the CPU).
    progress
        Optional callable receiving every :class:`~recon_engine.progress.ProgressEvent`.

    Returns
    -------
    ExplorerViews

    Raises
    ------
    ParameterError
        Impossible settings (R < 1, partial Fourier outside [0.5, 1], unknown names...).
    """
    return run(explore_steps(source, settings, device=device), progress)


def explore_steps(
    source: ExplorerSource,
    settings: ExplorerSettings,
    *,
    keep_iterates: bool = False,
    device: DeviceLike = "cpu",
) -> Steps[ExplorerViews]:
    """:func:`explore` as a progress generator; ``keep_iterates`` fills ``views.iterates``.

    The events are those of the engine's reconstruction (with previews of the current
    iterate); with ``keep_iterates`` the solver keeps every iterate (one run) and the magnitude
    of each, finished like the result, is returned as float32
    ``(iterations, y, x)`` (zero-filled and GRAPPA have no iterates: None).
    """
    check_settings(settings)
    if settings.radial:
        return (yield from radial_steps(source, settings, keep_iterates=keep_iterates, device=device))
    acq = acquire(source, settings)
    shown = acq.shown()
    aliased = combine_natural(source, zero_filled_natural(shown))
    iterates = None
    if settings.fast:
        recon = aliased
    else:
        recon, iterates = yield from recon_steps(
            source, settings, acq, keep_iterates=keep_iterates, device=device
        )
    gmap = None
    if settings.gfactor and settings.recon == "sense":
        yield ProgressEvent("g-factor", 0, 1)
        gmap = yield from gfactor_for_steps(source, settings, acq.masks, device=device)
    mask = acq.masks.acquired.astype(np.float32)
    views = make_views(source, mask, acq.kspace_log(shown), aliased, recon, acq.masks.psf_log)
    views.metrics["noise_std"] = acq.noise_std
    views.iterates = iterates
    add_gfactor(views, gmap, source)
    return views
