"""The generated blocks of the docs: a script's table between two HTML comment markers.

Shared by the figure scripts (``qmri_figures.py``, ``relax_net_figures.py``, ``mrf_figures.py``,
``simulation_figures.py``, ``learned_figures.py``) and ``update_performance_docs.py``; run as
``python scripts/NAME.py``, so this module is importable as ``_doc_blocks``.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["replace_block", "write_block"]


def replace_block(text: str, begin: str, end: str, block: str, *, append: bool = True) -> str:
    """``text`` with everything from ``begin`` to ``end`` (markers included) replaced by ``block``.

    ``block`` holds the markers itself. Without the markers in ``text`` the block is appended
    (``append``) or :class:`SystemExit` says which markers are missing.
    """
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    if not append:
        raise SystemExit(f"markers {begin} … {end} not found: add them where the table belongs and re-run")
    return text.rstrip("\n") + "\n\n" + block + "\n"


def write_block(doc: Path, begin: str, end: str, block: str, *, append: bool = True) -> None:
    """:func:`replace_block` on the file ``doc`` (UTF-8), written back and reported."""
    doc.write_text(
        replace_block(doc.read_text(encoding="utf-8"), begin, end, block, append=append), encoding="utf-8"
    )
    print(f"updated {doc}")
