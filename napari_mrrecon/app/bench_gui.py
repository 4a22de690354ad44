"""GUI benchmark: main-thread stalls and Run → first preview of the "MR Reconstruction" dock.

Run as ``python -m napari_mrrecon.app.bench_gui [--json] [--quick] [--runs N] [--causes]`` (under
``xvfb-run -a`` without a display); ``mrrecon bench`` calls it in a subprocess, since the engine
never imports napari. It opens a viewer, loads the R = 4 sample, chooses iterative SENSE in
the dock and presses Run several times. A ``QTimer`` probe fires every 5 ms on the main
thread; the longest gap between two of its ticks minus the interval is the longest stall
(the time the GUI could not react). It also records the time from Run to the first preview
shown in the preview layer. Targets: stall ≤ 50 ms, first preview ≤ 2 s.

``--causes`` adds a sampling profiler: a thread records the main thread's stack every
few ms, and each stall is listed with the code it was spent in (the innermost frame of this
plugin, or "event loop: …" for napari/vispy/Qt work such as painting the canvas).

Records (JSON as ``mrrecon bench --json``): ``gui_stall`` (median/min over runs of each run's
longest stall; quality: previews shown per run) and ``gui_first_preview``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

from napari_mrrecon.io.open import PLUGIN, open_with_plugin

__all__ = ["StackSampler", "StallProbe", "main", "measure"]

PROBE_INTERVAL_MS = 5


class StallProbe:
    """Record the gaps between ticks of a main-thread ``QTimer``.

    Parameters
    ----------
    interval_ms
        Timer interval; a gap longer than this is a stall of ``gap − interval``.
    """

    def __init__(self, interval_ms: int = PROBE_INTERVAL_MS) -> None:
        from qtpy.QtCore import Qt, QTimer

        self.interval_s = interval_ms / 1000.0
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.longest = 0.0
        self.started = 0.0
        self.gaps: list[tuple[float, float]] = []
        self.ticks = 0
        self.callbacks: list[Any] = []

    def _tick(self) -> None:
        now = time.perf_counter()
        self.ticks += 1
        if self.last:
            gap = now - self.last - self.interval_s
            self.longest = max(self.longest, gap)
            if gap > 0.02:
                self.gaps.append((round(self.last - self.started, 3), round(gap, 3)))
        self.last = now
        for cb in self.callbacks:
            cb(now)

    def start(self) -> None:
        """Reset and start."""
        self.last, self.longest, self.gaps, self.ticks = 0.0, 0.0, [], 0
        self.started = time.perf_counter()
        self.timer.start()

    def stop(self) -> float:
        """Stop; the longest stall since :meth:`start` (s)."""
        self.timer.stop()
        return max(self.longest, 0.0)


class StackSampler:
    """Sample the main thread's Python stack from a helper thread (the cause of each stall).

    Parameters
    ----------
    interval_s
        Time between two samples.
    """

    def __init__(self, interval_s: float = 0.003) -> None:
        import threading

        self.interval_s = interval_s
        self.samples: list[tuple[float, str]] = []
        self._main = threading.get_ident()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        """Start sampling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            frame = sys._current_frames().get(self._main)
            if frame is not None:
                self.samples.append((time.perf_counter(), _cause(frame)))
            time.sleep(self.interval_s)

    def causes(self, start: float, end: float, top: int = 3) -> list[tuple[str, int]]:
        """The ``top`` most sampled causes between ``start`` and ``end`` (perf_counter s), with counts."""
        counts: dict[str, int] = {}
        for t, cause in self.samples:
            if start <= t <= end:
                counts[cause] = counts.get(cause, 0) + 1
        return sorted(counts.items(), key=lambda kv: -kv[1])[:top]


def _cause(frame: Any) -> str:
    """Innermost frame of this plugin below the benchmark, else the innermost frame: ``file:line func``."""
    inner = frame
    while frame is not None:
        path = frame.f_code.co_filename
        if "napari_mrrecon" in path and not path.endswith("bench_gui.py"):
            return f"{path.rsplit('napari_mrrecon/', 1)[-1]}:{frame.f_lineno} {frame.f_code.co_name}"
        frame = frame.f_back
    path = inner.f_code.co_filename.split("site-packages/")[-1]
    return f"event loop: {path}:{inner.f_lineno} {inner.f_code.co_name}"


def measure(
    runs: int = 3,
    iterations: int = 30,
    device: str = "auto",
    *,
    verbose: bool = False,
    causes: bool = False,
) -> dict[str, list[float]]:
    """Open napari, run SENSE ``runs`` times in the dock, return per-run figures.

    With ``causes`` (implies ``verbose``) every stall over 20 ms is printed with the code
    the main thread was sampled in (:class:`StackSampler`).

    Returns
    -------
    dict
        ``"stall_s"``, ``"first_preview_s"`` (NaN if no preview came), ``"previews"`` and
        ``"duration_s"``, one value per run.
    """
    import napari
    from qtpy.QtCore import QEventLoop, QTimer

    from recon_engine.simulate.sample_data import sample_path

    viewer = napari.Viewer(show=True)
    try:
        open_with_plugin(viewer, sample_path("phantom_R4.h5"))
        _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "MR Reconstruction")
        widget.method.setCurrentText("sense")
        opts = widget.options
        if hasattr(opts, "iterations"):
            opts.iterations.value = iterations
        if hasattr(opts, "tolerance"):
            opts.tolerance.value = 0.0
        if hasattr(widget, "device"):
            widget.device.setCurrentText(device)
        out: dict[str, list[float]] = {"stall_s": [], "first_preview_s": [], "previews": [], "duration_s": []}
        probe = StallProbe()
        sampler = StackSampler() if causes else None
        if sampler is not None:
            sampler.start()
        loop = QEventLoop()
        widget.run_finished.connect(loop.quit)
        for _ in range(runs):
            _settle(0.3)
            seen = widget.previews_shown
            first: list[float] = []

            def watch(now: float, seen: int = seen, first: list[float] = first) -> None:
                if not first and widget.previews_shown > seen:
                    first.append(now)

            probe.callbacks = [watch]
            probe.start()
            _settle(0.05)
            start = time.perf_counter()
            widget.run_button.click()
            QTimer.singleShot(120_000, loop.quit)
            loop.exec()
            end = time.perf_counter()
            _settle(0.05)
            out["stall_s"].append(probe.stop())
            out["first_preview_s"].append(first[0] - start if first else float("nan"))
            out["previews"].append(float(widget.previews_shown - seen))
            out["duration_s"].append(end - start)
            if verbose or causes:
                at = start - probe.started
                print(f"stalls > 20 ms (start s, length s), Run at {at:.3f} s: {probe.gaps}")
            if sampler is not None:
                for begin, gap in probe.gaps:
                    t0 = probe.started + begin
                    found = sampler.causes(t0, t0 + gap + probe.interval_s)
                    print(
                        f"  {begin:6.3f} s  {1000 * gap:5.0f} ms  " + "; ".join(f"{c} ×{n}" for c, n in found)
                    )
        if sampler is not None:
            sampler.stop()
        return out
    finally:
        viewer.close()


def _settle(seconds: float) -> None:
    from qtpy.QtWidgets import QApplication

    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        QApplication.processEvents()
        time.sleep(0.002)


def records(figures: dict[str, list[float]]) -> list[dict[str, Any]]:
    """Benchmark records (``mrrecon bench --json`` format) from :func:`measure`'s figures."""
    stall, first = figures["stall_s"], figures["first_preview_s"]
    valid = [v for v in first if v == v]
    return [
        {
            "problem": "gui_stall",
            "tool": "napari-mrrecon",
            "median_s": statistics.median(stall),
            "min_s": min(stall),
            "quality_name": "previews per run",
            "quality": statistics.mean(figures["previews"]),
            "note": f"SENSE in the dock, probe {PROBE_INTERVAL_MS} ms, max over run",
        },
        {
            "problem": "gui_first_preview",
            "tool": "napari-mrrecon",
            "median_s": statistics.median(valid) if valid else float("nan"),
            "min_s": min(valid) if valid else float("nan"),
            "quality_name": "run duration s",
            "quality": statistics.median(figures["duration_s"]),
        },
    ]


def main(argv: list[str] | None = None) -> int:
    """Command line: print the records (``--json``) or a short summary."""
    p = argparse.ArgumentParser(prog="python -m napari_mrrecon.app.bench_gui", description=__doc__)
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="two runs of 10 iterations")
    p.add_argument("--runs", type=int, default=None)
    p.add_argument("--iterations", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--causes", action="store_true", help="list each stall with the code it was spent in")
    args = p.parse_args(argv)
    runs = args.runs or (2 if args.quick else 4)
    iterations = args.iterations or (10 if args.quick else 30)
    figures = measure(runs, iterations, args.device, verbose=not args.json, causes=args.causes)
    recs = records(figures)
    if args.json:
        print(json.dumps(recs, indent=1))
    else:
        for k, v in figures.items():
            print(f"{k:16s} " + "  ".join(f"{x:.3f}" for x in v))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
