"""Learned reconstruction: networks, weights, the denoiser prior, training and training data.

- :mod:`.networks`: :class:`DnCNN` (residual CNN denoiser, complex images as 2 channels plus
  an optional noise-level channel);
- :mod:`.modl_net`: :class:`MoDLNet` (shared-weight CNN alternating with CG data consistency);
- :mod:`.weights`: safe loading (``torch.load(..., weights_only=True)``), architecture checks,
  the built-in weights shipped in ``weights/``;
- :mod:`.denoiser`: the denoiser as a function of scaled complex images;
- :mod:`.data`: training images (textured phantoms, scikit-image images, the user's files)
  and simulated multi-coil acquisitions;
- :mod:`.train`: :func:`train_denoiser_steps` and :func:`train_modl_steps` (one shared
  epoch/validation/checkpoint loop; ``data`` a folder, a glob or arrays in memory),
  :func:`train_steps` by name, :func:`trained_weights` (the files this process trained).

The reconstructions that use them are ``"pnp"`` (:mod:`recon_engine.reconstructions.pnp`) and
``"modl"`` (:mod:`recon_engine.reconstructions.modl`). See ``docs/learned.md`` for the model card.
"""

from __future__ import annotations

from recon_engine.learned.data import (
    ImagePool,
    images_from_arrays,
    load_user_images,
    normalise,
    textured_phantom,
)
from recon_engine.learned.denoiser import IdentityDenoiser, LearnedDenoiser, denoise, make_denoiser
from recon_engine.learned.modl_net import MoDLNet, batched_cg
from recon_engine.learned.networks import DnCNN, parameter_count
from recon_engine.learned.train import (
    TRAINABLE,
    TrainResult,
    train_denoiser_steps,
    train_modl_steps,
    train_steps,
    trained_weights,
)
from recon_engine.learned.weights import BUILTIN, WEIGHTS_DIR, build, load_model, read_weights, save_model

__all__ = [
    "BUILTIN",
    "TRAINABLE",
    "WEIGHTS_DIR",
    "DnCNN",
    "IdentityDenoiser",
    "ImagePool",
    "LearnedDenoiser",
    "MoDLNet",
    "TrainResult",
    "batched_cg",
    "build",
    "denoise",
    "images_from_arrays",
    "load_model",
    "load_user_images",
    "make_denoiser",
    "normalise",
    "parameter_count",
    "read_weights",
    "save_model",
    "textured_phantom",
    "train_denoiser_steps",
    "train_modl_steps",
    "train_steps",
    "trained_weights",
]
