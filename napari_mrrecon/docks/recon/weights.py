"""The weights chooser of the learned methods in the MR Reconstruction dock's options form.

A method whose signature has a ``weights`` option (``"pnp"``: denoiser weights, ``"modl"``:
MoDL weights) gets, in place of the generated text field, a :class:`WeightsField`: a combo box
of the built-in weights, the method's special values (``"identity"`` for ``"pnp"``: no prior,
CG-SENSE), the weights files that training runs of this session wrote
(:func:`recon_engine.learned.trained_weights`, e.g. from the Training dock) and the files the
user picked, and a "File…" button. A picked ``.pt`` file is checked at once by the engine
(:func:`recon_engine.learned.load_model`, ``torch.load(..., weights_only=True)``): a file of
another architecture, or one that is not a weights file, gives an error notification with the
engine's message and the choice stays as it was. The field's value is the string the engine
takes (``"builtin"`` or a path), so the form's values, the recipe and "Copy as Python" carry
the choice unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import ComboBox, PushButton
from magicgui.widgets.bases import ValuedContainerWidget
from qtpy.QtCore import QEvent, QObject

if TYPE_CHECKING:
    from magicgui.widgets import Container

__all__ = [
    "BUILTIN",
    "SPECIAL_WEIGHTS",
    "WEIGHTS_FILTER",
    "WEIGHTS_KIND",
    "WEIGHTS_OPTION",
    "WeightsField",
    "upgrade_weights_option",
]

#: The option name that gets the chooser.
WEIGHTS_OPTION = "weights"
#: The engine's name of the shipped weights.
BUILTIN = "builtin"
#: The network kind (:func:`recon_engine.learned.load_model`) each learned method loads.
WEIGHTS_KIND: dict[str, str] = {"pnp": "dncnn", "modl": "modl"}
#: Values besides files that a method's ``weights`` takes.
SPECIAL_WEIGHTS: dict[str, tuple[str, ...]] = {"pnp": ("identity",)}
#: File dialog filter of "File…".
WEIGHTS_FILTER = "Weights (*.pt *.pth)"


def _file_kind(path: Path) -> str | None:
    """The network kind a weights file holds (None: not a readable weights file)."""
    from recon_engine.errors import ReconError
    from recon_engine.learned import read_weights

    try:
        return str(read_weights(path)["architecture"].get("kind"))
    except (ReconError, OSError):
        return None


class _OnOpen(QObject):
    """Calls ``callback`` before the combo box's list opens (mouse press or key press)."""

    def __init__(self, callback: Callable[[], None], parent: QObject) -> None:
        super().__init__(parent)
        self._callback = callback

    def eventFilter(self, obj: QObject | None, event: QEvent | None) -> bool:
        if event is not None and event.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.KeyPress):
            self._callback()
        return False


class WeightsField(ValuedContainerWidget[str]):
    """Combo box of weights (built-in, special, trained here, picked) and a "File…" button.

    Parameters
    ----------
    method
        The learned method (``"pnp"``, ``"modl"``): which network kind files must hold.
    value
        The starting value (the signature's default, ``"builtin"``).
    tooltip
        The option's description.
    pick_file
        Returns a file the user picked, or None (default: a file dialog); tests replace it.

    Attributes
    ----------
    combo, browse
        The combo box and the "File…" button.
    """

    def __init__(
        self,
        method: str,
        value: str = BUILTIN,
        *,
        tooltip: str = "",
        pick_file: Callable[[], str | None] | None = None,
    ) -> None:
        self.method = method
        self.kind = WEIGHTS_KIND.get(method)
        self._picked: list[str] = []
        self._pick = pick_file or self._dialog
        self.combo = ComboBox(choices=self._choices, value=BUILTIN, tooltip=tooltip or None)
        self.browse = PushButton(text="File…", tooltip="Choose a weights file (.pt) trained by mrrecon train")
        super().__init__(
            widgets=[self.combo, self.browse],
            layout="horizontal",
            labels=False,
            name=WEIGHTS_OPTION,
            label=WEIGHTS_OPTION,
            tooltip=tooltip or None,
        )
        self.margins = (0, 0, 0, 0)
        self.combo.changed.connect(lambda: self.changed.emit(self.value))
        self.browse.changed.connect(self._on_browse)
        self._opener = _OnOpen(self.refresh, self.combo.native)
        self.combo.native.installEventFilter(self._opener)
        self.set_value(value)

    # ---- choices ---------------------------------------------------------------------------
    def _choices(self, *_: Any) -> list[str]:
        from recon_engine.learned import trained_weights

        trained = [str(p) for p in trained_weights() if self.kind is None or _file_kind(p) == self.kind]
        current = getattr(self, "combo", None)
        keep = [str(current.value)] if current is not None and current.value is not None else []
        names = [BUILTIN, *SPECIAL_WEIGHTS.get(self.method, ()), *trained, *self._picked, *keep]
        return list(dict.fromkeys(names))

    def refresh(self) -> None:
        """Re-read the trained weights of this session (keeps the choice)."""
        value = self.combo.value
        self.combo.reset_choices()
        if value in self.combo.choices:
            with self.combo.changed.blocked():
                self.combo.value = value

    # ---- value -----------------------------------------------------------------------------
    def get_value(self) -> str:
        """The weights as the engine takes them: ``"builtin"``, a special value or a path."""
        return str(self.combo.value)

    def set_value(self, value: Any) -> None:
        """Choose ``value`` (a path not listed yet is added, unchecked: the engine checks it at Run)."""
        text = str(value)
        if text not in self.combo.choices:
            self._picked.append(text)
            self.combo.reset_choices()
        self.combo.value = text

    def choose_file(self, path: str | Path) -> bool:
        """Check ``path`` with the engine and choose it; an unusable file is an error notification.

        Returns
        -------
        bool
            True when the file was chosen; False (choice unchanged) when the engine refused it.
        """
        from napari.utils.notifications import show_error

        from recon_engine.errors import ReconError
        from recon_engine.learned import load_model

        p = Path(path).expanduser().absolute()
        if self.kind is not None:
            try:
                load_model(p, self.kind)
            except ReconError as exc:
                show_error(f"Weights for {self.method}: {exc}")
                return False
        self.set_value(str(p))
        return True

    def _on_browse(self, *_: Any) -> None:
        path = self._pick()
        if path:
            self.choose_file(path)

    def _dialog(self) -> str | None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self.native, f"Weights for {self.method}", "", WEIGHTS_FILTER)
        return path or None


def upgrade_weights_option(
    form: Container, method: str, pick_file: Callable[[], str | None] | None = None
) -> WeightsField | None:
    """Replace the ``weights`` text field of a method's options form by a :class:`WeightsField`.

    Any method form with a ``weights`` option gets it (value and tooltip kept); returns the new
    field, or None when the form has no such option.
    """
    names = [w.name for w in form]
    if WEIGHTS_OPTION not in names:
        return None
    index = names.index(WEIGHTS_OPTION)
    old = form[index]
    field = WeightsField(method, str(old.value), tooltip=old.tooltip or "", pick_file=pick_file)
    del form[index]
    form.insert(index, field)
    return field
