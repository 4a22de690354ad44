"""The fuzz harness ``scripts/fuzz.py``, imported once as a module for the tests."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.conftest import ROOT

_NAME = "mrrecon_fuzz"


def fuzz() -> ModuleType:
    """``scripts/fuzz.py`` as a module (registered in ``sys.modules``, as dataclasses need)."""
    if _NAME in sys.modules:
        return sys.modules[_NAME]
    spec = importlib.util.spec_from_file_location(_NAME, ROOT / "scripts" / "fuzz.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = module
    spec.loader.exec_module(module)
    return module
