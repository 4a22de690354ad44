"""The registry of qMRI signal models: names, descriptions, lookup."""

from __future__ import annotations

from recon_engine.errors import ParameterError
from recon_engine.qmri._model import ModelInfo, SignalModel
from recon_engine.qmri.epg_models import EPG_MODELS
from recon_engine.qmri.relaxation_models import CLOSED_FORM_MODELS

__all__ = ["MODEL_NAMES", "get_model", "model_info"]

_MODELS: dict[str, SignalModel] = {**CLOSED_FORM_MODELS, **EPG_MODELS}

MODEL_NAMES: tuple[str, ...] = tuple(_MODELS)
"""Names of the models :func:`~recon_engine.qmri.fit` knows, in display order."""


def get_model(name: str) -> SignalModel:
    """The model description (private structure used by the fit).

    Raises
    ------
    ParameterError
        For an unknown model; the message lists the valid names.
    """
    key = str(name).strip().lower()
    if key not in _MODELS:
        raise ParameterError(f"unknown qMRI model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    return _MODELS[key]


def model_info(name: str) -> ModelInfo:
    """Description of a model: title, sampling variable, parameter maps and units, options.

    Parameters
    ----------
    name
        One of :data:`MODEL_NAMES`.

    Returns
    -------
    ModelInfo

    Raises
    ------
    ParameterError
        For an unknown model (the message lists the valid ones).
    """
    return get_model(name).info
