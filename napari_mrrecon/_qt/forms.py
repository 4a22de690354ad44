"""Parameter forms built from an engine function's typed signature (magicgui).

A method's keyword options become widgets; the numpy docstring's parameter descriptions
become tooltips. Choosing another method swaps in that method's form.

Each option is first described by an :class:`OptionSpec` (Qt-free; the Sweep dock also
uses it to parse lists of values), then turned into a widget:

==========================================  ===========================================
annotation (default)                        widget
==========================================  ===========================================
``float``                                   text field that reads ``1e-3``, ``0.05`` …
                                            (spin boxes round small weights to 0)
``int``                                     spin box
``bool``                                    check box
``Literal[...]``, ``Enum``                  combo box
``str``                                     text field
a union with a ``Literal`` holding the      combo box of that ``Literal`` (e.g.
default, or with the default's type         ``coil_maps: Literal[...] | ndarray``)
anything else with a literal default        text field evaluated as a Python literal
(``None``, a tuple, a dict)                 (``levels: int | None = None``)
==========================================  ===========================================

Options that a user cannot sensibly type are left out of the form (the engine's default is
used; scripts still pass them): those whose default is not a plain value, and those whose
annotation admits an array, a tensor or a mapping (``maps: ndarray | Tensor | None = None``,
``coil_map_options: Mapping[str, Any] | None = None``).
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from magicgui.widgets import Container

__all__ = ["OptionSpec", "form_values", "option_specs", "options_form", "set_form_values"]

_OPTION_KINDS = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_INT_RANGE = (-(2**31) + 1, 2**31 - 1)
_PLAIN = (type(None), bool, int, float, str, tuple, list, dict)

Kind = Literal["float", "int", "bool", "choice", "text", "literal"]


@dataclass(frozen=True)
class OptionSpec:
    """How one keyword option of an engine function is edited.

    Attributes
    ----------
    name
        Parameter name.
    kind
        ``"float"``, ``"int"``, ``"bool"``, ``"choice"`` (one of :attr:`choices`),
        ``"text"`` (a string) or ``"literal"`` (a Python literal such as ``None`` or a tuple).
    default
        The signature's default.
    choices
        The allowed values of a ``"choice"``.
    tooltip
        The docstring's description of the parameter.
    """

    name: str
    kind: Kind
    default: Any
    choices: tuple[Any, ...] = ()
    tooltip: str = ""

    @property
    def label(self) -> str:
        """Label shown in the form (``regularization_weight`` → "regularization weight")."""
        return self.name.replace("_", " ")


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


def _members(annotation: Any) -> tuple[Any, ...]:
    """The members of a union annotation (``A | B``, ``Union[A, B]``), else the annotation alone."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _is_plain(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_is_plain(k) and _is_plain(v) for k, v in value.items())
    return type(value) in _PLAIN


_NOT_TYPED = ("ndarray", "Tensor", "Mapping", "MutableMapping", "dict", "Dict")


def _not_typeable(annotation: Any) -> bool:
    """True when a member of the annotation is an array, tensor or mapping (not typed in a form)."""
    for member in _members(annotation):
        origin = typing.get_origin(member) or member
        if getattr(origin, "__name__", "") in _NOT_TYPED:
            return True
    return False


def _spec(name: str, annotation: Any, default: Any, tooltip: str) -> OptionSpec | None:
    """Describe one option, or None when it cannot be edited in a form."""
    for member in _members(annotation):
        if typing.get_origin(member) is Literal and default in typing.get_args(member):
            return OptionSpec(name, "choice", default, typing.get_args(member), tooltip)
        if isinstance(member, type) and issubclass(member, enum.Enum) and isinstance(default, member):
            return OptionSpec(name, "choice", default, tuple(member), tooltip)
    if _not_typeable(annotation):
        return None
    simple: dict[type, Kind] = {bool: "bool", int: "int", float: "float", str: "text"}
    kind = simple.get(type(default))
    if kind is not None:
        return OptionSpec(name, kind, default, (), tooltip)
    if _is_plain(default):
        return OptionSpec(name, "literal", default, (), tooltip)
    return None


def option_specs(fn: Callable[..., Any], skip: Collection[str] = ()) -> list[OptionSpec]:
    """The editable keyword options of ``fn`` (those with a plain default), in signature order.

    Parameters
    ----------
    fn
        The engine function (e.g. a reconstruction's ``*_steps`` generator function).
    skip
        Parameter names that the dock supplies itself (data, device).
    """
    hints = _type_hints(fn)
    tips = _descriptions(fn)
    specs = []
    for p in inspect.signature(fn).parameters.values():
        if p.name in skip or p.kind not in _OPTION_KINDS or p.default is inspect.Parameter.empty:
            continue
        spec = _spec(p.name, hints.get(p.name, type(p.default)), p.default, tips.get(p.name, ""))
        if spec is not None:
            specs.append(spec)
    return specs


def _widget(spec: OptionSpec) -> Any:
    from magicgui.widgets import CheckBox, ComboBox, LineEdit, LiteralEvalLineEdit, SpinBox

    from napari_mrrecon._qt.float_edit import FloatEdit

    common: dict[str, Any] = {"name": spec.name, "label": spec.label, "tooltip": spec.tooltip or None}
    if spec.kind == "float":
        return FloatEdit(value=spec.default, **common)
    if spec.kind == "int":
        lo, hi = _INT_RANGE
        return SpinBox(value=spec.default, min=lo if spec.default < 0 else 0, max=hi, **common)
    if spec.kind == "bool":
        return CheckBox(value=spec.default, **common)
    if spec.kind == "choice":
        return ComboBox(value=spec.default, choices=list(spec.choices), **common)
    if spec.kind == "text":
        return LineEdit(value=spec.default, **common)
    return LiteralEvalLineEdit(value=spec.default, **common)


def options_form(fn: Callable[..., Any], skip: Collection[str] = ()) -> Container:
    """A magicgui container with one widget per editable keyword option of ``fn``.

    Parameters
    ----------
    fn
        The engine function (e.g. a reconstruction's ``*_steps`` generator function).
    skip
        Parameter names that the dock supplies itself (data, device).

    Returns
    -------
    magicgui.widgets.Container
        Widgets named after the parameters, initialised to their defaults; its
        ``changed`` signal fires when any value changes.
    """
    from magicgui.widgets import Container

    return Container(widgets=[_widget(s) for s in option_specs(fn, skip)], labels=True)


def form_values(form: Container) -> dict[str, Any]:
    """The current values of a form made by :func:`options_form`, by parameter name.

    Raises
    ------
    ValueError
        A text field does not hold a valid value (the message names the option).
    """
    values = {}
    for w in form:
        try:
            values[w.name] = w.value
        except (ValueError, SyntaxError) as exc:
            text = getattr(w.native, "text", lambda: "")()
            raise ValueError(f"{w.label}: {text!r} is not a valid value") from exc
    return values


def set_form_values(form: Container, values: dict[str, Any]) -> list[str]:
    """Set the widgets named in ``values``; returns the names the form has no widget for."""
    missing = []
    names = {w.name for w in form}
    for name, value in values.items():
        if name not in names:
            missing.append(name)
            continue
        form[name].value = value
    return missing
