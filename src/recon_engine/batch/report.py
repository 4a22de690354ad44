"""What a batch produced: one :class:`FileResult` per input, a :class:`BatchReport`, its JSON and table."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from recon_engine.progress import ProgressEvent

__all__ = ["REPORT_NAME", "BatchEvent", "BatchReport", "FileResult", "Status"]

#: Name of the report written into the output directory.
REPORT_NAME = "batch_report.json"

Status = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True)
class FileResult:
    """The outcome for one input.

    Attributes
    ----------
    input
        The input file (absolute), or what the user wrote when no file was found.
    status
        ``"ok"``, ``"failed"`` or ``"skipped"`` (``--resume``: output up to date).
    seconds
        Time the task took on its worker (0 for skipped and never-started inputs).
    output
        The output file, or None.
    error
        One-line reason of a failure, else None.
    worker
        ``host:pid`` of the worker that ran it (None when it did not run).
    """

    input: str
    status: Status
    seconds: float = 0.0
    output: str | None = None
    error: str | None = None
    worker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        d = asdict(self)
        d["seconds"] = round(self.seconds, 4)
        return d


@dataclass(frozen=True)
class BatchEvent(ProgressEvent):
    """A batch progress event: ``iteration`` files finished of ``total``.

    ``metrics`` holds ``done``, ``failed``, ``skipped``, ``running``, ``queued``,
    ``elapsed_s`` and ``eta_s`` (-1 while unknown); ``result`` is the file that just
    finished (None on a periodic tick), so a GUI can fill its table row by row.
    """

    result: FileResult | None = None


@dataclass
class BatchReport:
    """A finished (or stopped) batch.

    Attributes
    ----------
    files
        One result per input, in input order.
    recipe
        The recipe dict that was applied.
    recipe_hash
        Hash that ``--resume`` compares.
    output_dir
        Where outputs and the report went.
    seconds
        Wall-clock time of the whole batch.
    workers
        Number of Dask workers used (0 when nothing had to run).
    scheduler
        Scheduler address (None when nothing had to run).
    stopped
        True when the batch was stopped before every file finished.
    """

    files: list[FileResult]
    recipe: dict[str, Any]
    recipe_hash: str
    output_dir: str
    seconds: float = 0.0
    workers: int = 0
    scheduler: str | None = None
    stopped: bool = False
    versions: dict[str, str] = field(default_factory=dict)

    def count(self, status: Status) -> int:
        """Number of files with this status."""
        return sum(f.status == status for f in self.files)

    @property
    def ok(self) -> bool:
        """True when no file failed and the batch was not stopped."""
        return not self.stopped and self.count("failed") == 0

    def to_dict(self) -> dict[str, Any]:
        """The report as written to ``batch_report.json``."""
        return {
            "mrrecon_batch_report": 1,
            "output_dir": self.output_dir,
            "recipe_hash": self.recipe_hash,
            "recipe": self.recipe,
            "versions": self.versions,
            "seconds": round(self.seconds, 3),
            "workers": self.workers,
            "scheduler": self.scheduler,
            "stopped": self.stopped,
            "counts": {s: self.count(s) for s in ("ok", "failed", "skipped")},
            "files": [f.to_dict() for f in self.files],
        }

    def save(self, path: str | Path) -> Path:
        """Write the report JSON atomically."""
        from recon_engine.io._atomic import atomic_file

        with atomic_file(path) as tmp:
            Path(tmp).write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return Path(path)

    def table(self, *, width: int = 110) -> str:
        """A plain-text summary table (one row per file) and a totals line."""
        rows = [("status", "seconds", "input", "output / error")]
        for f in self.files:
            rest = f.error if f.status == "failed" else (Path(f.output).name if f.output else "")
            rows.append((f.status, f"{f.seconds:.2f}", Path(f.input).name, rest or ""))
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        w2 = min(40, max(len(r[2]) for r in rows))
        lines = []
        for r in rows:
            line = f"{r[0]:<{w0}}  {r[1]:>{w1}}  {r[2]:<{w2}}  {r[3]}"
            lines.append(line if len(line) <= width else line[: width - 1] + "…")
        lines.append(
            f"{self.count('ok')} ok, {self.count('failed')} failed, {self.count('skipped')} skipped"
            f" of {len(self.files)} in {self.seconds:.1f} s" + (" (stopped)" if self.stopped else "")
        )
        return "\n".join(lines)
