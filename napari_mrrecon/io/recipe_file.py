"""Saving a dock's recipe (reconstruction or fit) as YAML, with the outcome as a notification."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

__all__ = ["SavableRecipe", "save_recipe_notified"]


class SavableRecipe(Protocol):
    """A recipe the engine writes atomically (``recon_engine.recipe.Recipe``, ``FitRecipe``)."""

    def save(self, path: str | Path) -> Path:
        """Write the recipe as YAML; returns the written path."""
        ...


def save_recipe_notified(recipe: SavableRecipe | None, path: str | Path) -> Path | None:
    """Write ``recipe`` to ``path``; the written file, or None (nothing to save, or it failed).

    A recipe the engine refuses to write (:class:`~recon_engine.errors.ReconError`) or a file
    system error becomes an error notification; success is an info notification.
    """
    from napari.utils.notifications import show_error, show_info

    from recon_engine.errors import ReconError

    if recipe is None:
        return None
    try:
        written: Any = recipe.save(path)
    except (ReconError, OSError) as exc:
        show_error(f"Save recipe failed: {exc}")
        return None
    show_info(f"Saved recipe {Path(written).name}")
    return Path(written)
