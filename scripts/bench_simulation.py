"""Speed of the Pulseq simulator: a 128² spoiled GRE, 8 coils, brain phantom (isochromat-steps/s).

Usage: ``python scripts/bench_simulation.py [--n 128] [--coils 8] [--isochromats 1] [--device cpu]
[--threads 1]``. The same problem (P6) is the ``simulation`` suite of ``mrrecon bench``
(``mrrecon bench --suite simulation [--matrix N] --json``: repeats, records, the docs table);
this script is one call with free settings. One isochromat step is one isochromat advanced over
one interval (free precession, one RF segment or one ADC sample); the figure is steps / wall time
of the simulation loop.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from recon_engine.cli.bench.ours_simulation import simulate_gre
from recon_engine.device import resolve_device


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--coils", type=int, default=8)
    p.add_argument("--isochromats", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    ks = simulate_gre(a.n, coils=a.coils, isochromats=a.isochromats, device=resolve_device(a.device))
    s: dict[str, Any] = dict(ks.meta["simulation"])  # type: ignore[call-overload]
    print(
        f"GRE {a.n}², {a.coils} coils, {s['isochromats']} isochromats ({a.isochromats}/voxel), "
        f"{s['device']}, {torch.get_num_threads()} threads: {s['seconds']:.2f} s, "
        f"{s['isochromat_steps']:.3g} steps, {s['isochromat_steps_per_s']:.3g} isochromat-steps/s"
    )


if __name__ == "__main__":
    main()
