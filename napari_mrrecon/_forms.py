"""Parameter forms built from an engine function's typed signature (magicgui).

A method's keyword options (``combine: Literal["rss", "adaptive", "none"] = "rss"``,
``prewhitening: bool = True``, ...) become widgets; the numpy docstring's parameter
descriptions become tooltips. Choosing another method swaps in that method's form.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from magicgui.widgets import Container

__all__ = ["form_values", "options_form"]

_OPTION_KINDS = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except (NameError, TypeError):  # annotations that only exist for type checkers
        return {}


def _descriptions(fn: Callable[..., Any]) -> dict[str, str]:
    try:
        from docstring_parser import parse
    except ImportError:  # pragma: no cover - magicgui depends on it
        return {}
    doc = parse(inspect.getdoc(fn) or "")
    return {p.arg_name: " ".join((p.description or "").split()) for p in doc.params}


def options_form(fn: Callable[..., Any], skip: Collection[str] = ()) -> Container:
    """A magicgui container with one widget per keyword option of ``fn``.

    Parameters
    ----------
    fn
        The engine function (e.g. a reconstruction's ``*_steps`` generator function).
    skip
        Parameter names that the dock supplies itself (data, device).

    Returns
    -------
    magicgui.widgets.Container
        Widgets named after the parameters, initialised to their defaults.
    """
    from magicgui.widgets import Container, create_widget

    hints = _type_hints(fn)
    tips = _descriptions(fn)
    widgets = []
    for p in inspect.signature(fn).parameters.values():
        if p.name in skip or p.kind not in _OPTION_KINDS or p.default is inspect.Parameter.empty:
            continue
        annotation = hints.get(p.name, type(p.default))
        widget = create_widget(
            value=p.default,
            annotation=annotation,
            name=p.name,
            label=p.name.replace("_", " "),
            options={"tooltip": tips.get(p.name) or None},
        )
        widgets.append(widget)
    return Container(widgets=widgets, labels=True)


def form_values(form: Container) -> dict[str, Any]:
    """The current values of a form made by :func:`options_form`, by parameter name."""
    return {w.name: w.value for w in form}
