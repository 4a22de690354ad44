"""Benchmark records, cases and targets.

A :class:`Case` is one tool on one problem: a callable to time and a function that turns its
last result into the quality figure. A :class:`Record` is what a run reports per case; its
JSON form is ``{"problem", "tool", "median_s", "min_s", "quality_name", "quality"}`` (plus
``"note"`` and ``"extra"`` — further named figures such as per-tissue errors — when there are
some), so runs can be compared across machines and versions.

Problems belong to suites (:data:`SUITES`): ``"core"`` (the default run: reconstruction,
calibration, NUFFT, qMRI fit/match, explorer, GUI), ``"learned"`` (``pnp``/``modl`` on P1,
training throughput), ``"qmri-raw"`` (maps from raw multi-contrast k-space) and
``"simulation"`` (the Pulseq simulator).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OURS", "PROBLEM_TITLES", "SUITES", "TARGETS", "Case", "Record", "Target", "evaluate"]

#: The tool name of this project's engine in records.
OURS = "napari-mrrecon"

#: Problem key → what it measures (table titles).
PROBLEM_TITLES: dict[str, str] = {
    "espirit": "ESPIRiT coil maps (P1)",
    "cg_sense": "CG-SENSE 20 it, true maps (P1)",
    "tv": "TV 50 it (P1)",
    "wavelet": "wavelet-L1 50 it (P1)",
    "pnp": "PnP-ADMM 20 it, built-in denoiser (P1)",
    "modl": "MoDL 5 unrolls, built-in weights (P1)",
    "grappa": "GRAPPA (P1)",
    "nufft_adjoint": "adjoint NUFFT 16 coils (P2)",
    "radial_cg_sense": "radial CG-SENSE 20 it (P2)",
    "cg_sense_3d": "3D CG-SENSE 20 it 128³×8",
    "t1_fit": "IR T1 fit 256²×8 (P3)",
    "mrf_match": "MRF match 65,536×500 vs 10,000 (P4)",
    "explorer_refresh": "explorer refresh 256² zero-filled",
    "gui_stall": "GUI longest main-thread stall",
    "gui_first_preview": "GUI Run → first preview",
    "train_denoiser": "denoiser training, 1 epoch (CPU)",
    "train_denoiser_cuda": "denoiser training, 1 epoch (CUDA)",
    "train_modl": "MoDL training, 1 epoch (CPU)",
    "train_modl_cuda": "MoDL training, 1 epoch (CUDA)",
    "qmri_raw_two_step": "IR T1 from raw: two-step SENSE + fit (P5)",
    "qmri_raw_model_based": "IR T1 from raw: model-based IRGNM (P5)",
    "qmri_raw_subspace": "IR T1 from raw: subspace CG (P5)",
    "qmri_raw_llr": "IR T1 from raw: subspace + LLR (P5)",
    "qmri_raw_pnp": "IR T1 from raw: PnP-ADMM subspace (P5)",
    "qmri_raw_learned": "IR T1 from raw: relaxometry-guided unrolled net (P5)",
    "seq_sim": "Pulseq GRE simulation, 8 coils (P6, CPU)",
    "seq_sim_cuda": "Pulseq GRE simulation, 8 coils (P6, CUDA)",
}

#: Suite name → its problem keys (``mrrecon bench --suite NAME``; ``"core"`` is the default run).
SUITES: dict[str, tuple[str, ...]] = {
    "core": (
        "espirit",
        "cg_sense",
        "tv",
        "wavelet",
        "grappa",
        "nufft_adjoint",
        "radial_cg_sense",
        "cg_sense_3d",
        "t1_fit",
        "mrf_match",
        "explorer_refresh",
        "gui_stall",
        "gui_first_preview",
    ),
    "learned": ("pnp", "modl", "train_denoiser", "train_denoiser_cuda", "train_modl", "train_modl_cuda"),
    "qmri-raw": (
        "qmri_raw_two_step",
        "qmri_raw_model_based",
        "qmri_raw_subspace",
        "qmri_raw_llr",
        "qmri_raw_pnp",
        "qmri_raw_learned",
    ),
    "simulation": ("seq_sim", "seq_sim_cuda"),
}


@dataclass(frozen=True)
class Target:
    """A performance target of one problem.

    Attributes
    ----------
    kind
        ``"ratio"``: our time / the fastest peer's (or ``peer``'s) time ≤ ``value``;
        ``"seconds"``: our median time ≤ ``value``.
    value
        The bound.
    peer
        Only this peer counts for a ratio (``None``: the fastest peer of the run).
    quality
        ``"higher"``/``"lower"``: our quality must be at least as good as that peer's
        (within 1 %); ``None``: no quality condition besides ``quality_min``/``quality_max``.
    quality_min, quality_max
        Absolute bounds on our quality figure.
    text
        Human-readable form.
    """

    kind: str
    value: float
    text: str
    peer: str | None = None
    quality: str | None = None
    quality_min: float | None = None
    quality_max: float | None = None


TARGETS: dict[str, Target] = {
    "espirit": Target("ratio", 0.5, "≤ 0.5 × BART, similarity ≥ 0.999", peer="bart", quality_min=0.999),
    "cg_sense": Target("ratio", 0.6, "≤ 0.6 × fastest peer"),
    "tv": Target("ratio", 0.5, "≤ 0.5 × fastest, NRMSE ≤ peer", quality="lower"),
    "wavelet": Target("ratio", 0.5, "≤ 0.5 × fastest, NRMSE ≤ peer", quality="lower"),
    "nufft_adjoint": Target("ratio", 0.5, "≤ 0.5 × SigPy", peer="sigpy"),
    "radial_cg_sense": Target("seconds", 0.645, "≤ 0.645 s (0.5 × MRpro 1.29 s)"),
    "t1_fit": Target("seconds", 0.15, "≤ 0.15 s, least-squares accuracy"),
    "mrf_match": Target("seconds", 1.5, "≤ 1.5 s, ≥ 99 % agreement", quality_min=0.99),
    "explorer_refresh": Target("seconds", 0.1, "≥ 10 updates/s"),
    "gui_stall": Target("seconds", 0.05, "≤ 50 ms"),
    "gui_first_preview": Target("seconds", 2.0, "≤ 2 s"),
}


@dataclass
class Case:
    """One tool on one problem.

    Attributes
    ----------
    problem, tool
        Keys of the record.
    run
        The work to time (no arguments); its return value goes to ``quality``.
    quality
        Result → quality figure.
    quality_name
        E.g. ``"NRMSE"``.
    note
        Shown with the record (e.g. what a peer's time includes).
    warmup
        Untimed calls before timing (JIT compilers, plan caches).
    time_scale
        Factor applied to the measured times (a peer timed on a subset of the work).
    extra
        Result → further named figures (e.g. ``{"WM": 0.02, "GM": 0.03}``), or None.
    repeats
        Timed calls of this case when the run does not set a count (long cases: fewer).
    """

    problem: str
    tool: str
    run: Callable[[], Any]
    quality: Callable[[Any], float]
    quality_name: str
    note: str = ""
    warmup: int = 0
    time_scale: float = 1.0
    extra: Callable[[Any], dict[str, float]] | None = None
    repeats: int | None = None
    times: list[float] = field(default_factory=list)
    result: Any = None


@dataclass(frozen=True)
class Record:
    """The measurement of one case (seconds; ``quality`` NaN when it could not be computed).

    ``extra`` holds further named figures of the same result (per-tissue errors, step counts).
    """

    problem: str
    tool: str
    median_s: float
    min_s: float
    quality_name: str
    quality: float
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (NaN quality becomes None)."""
        d: dict[str, Any] = {
            "problem": self.problem,
            "tool": self.tool,
            "median_s": self.median_s,
            "min_s": self.min_s,
            "quality_name": self.quality_name,
            "quality": self.quality if math.isfinite(self.quality) else None,
        }
        if self.note:
            d["note"] = self.note
        if self.extra:
            d["extra"] = {k: (v if math.isfinite(v) else None) for k, v in self.extra.items()}
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Record:
        """Inverse of :meth:`to_json`."""
        q = d.get("quality")
        return cls(
            str(d["problem"]),
            str(d["tool"]),
            float(d["median_s"]),
            float(d["min_s"]),
            str(d["quality_name"]),
            float("nan") if q is None else float(q),
            str(d.get("note", "")),
            {str(k): float("nan") if v is None else float(v) for k, v in (d.get("extra") or {}).items()},
        )


def _peer_name(tool: str) -> str:
    return tool.split()[0].lower()


def evaluate(records: list[Record], problem: str) -> tuple[float | None, bool | None]:
    """Ratio of our median to the fastest (or the target's) peer, and whether the target holds.

    Returns
    -------
    ratio, passed
        ``ratio`` None without a peer; ``passed`` None when the target cannot be judged
        (no target, or a ratio target without that peer in the run).
    """
    ours = [r for r in records if r.problem == problem and r.tool == OURS]
    peers = [r for r in records if r.problem == problem and r.tool != OURS]
    if not ours:
        return None, None
    me = ours[0]
    target = TARGETS.get(problem)
    chosen = [p for p in peers if target is None or target.peer is None or _peer_name(p.tool) == target.peer]
    best = min(chosen, key=lambda r: r.median_s) if chosen else None
    fastest = min(peers, key=lambda r: r.median_s) if peers else None
    ratio = me.median_s / fastest.median_s if fastest and fastest.median_s > 0 else None
    if target is None:
        return ratio, None
    if target.kind == "ratio":
        if best is None or best.median_s <= 0:
            return ratio, None
        ok = me.median_s / best.median_s <= target.value
        ratio = me.median_s / best.median_s
    else:
        ok = me.median_s <= target.value
    if target.quality_min is not None:
        ok = ok and me.quality >= target.quality_min
    if target.quality_max is not None:
        ok = ok and me.quality <= target.quality_max
    if target.quality is not None and best is not None and math.isfinite(best.quality):
        if target.quality == "lower":
            ok = ok and me.quality <= best.quality * 1.01
        else:
            ok = ok and me.quality >= best.quality * 0.99
    return ratio, ok
