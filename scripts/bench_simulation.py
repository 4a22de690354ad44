"""Speed of the Pulseq simulator: a 128² spoiled GRE, 8 coils, brain phantom (isochromat-steps/s).

Usage: ``python scripts/bench_simulation.py [--isochromats 1] [--device cpu] [--threads 1]``.
One isochromat step is one isochromat advanced over one interval (free precession, one RF
segment or one ADC sample); the figure is steps / wall time of the simulation loop.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from recon_engine.simulate import _seq_examples as ex
from recon_engine.simulate.seq_sim import simulate_seq


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
    seq = ex.gre(a.n)
    ks = simulate_seq(seq, "brain", coils=a.coils, isochromats=a.isochromats, device=a.device)
    s: dict[str, Any] = dict(ks.meta["simulation"])  # type: ignore[call-overload]
    print(
        f"GRE {a.n}², {a.coils} coils, {s['isochromats']} isochromats ({a.isochromats}/voxel), "
        f"{s['device']}, {torch.get_num_threads()} threads: {s['seconds']:.2f} s, "
        f"{s['isochromat_steps']:.3g} steps, {s['isochromat_steps_per_s']:.3g} isochromat-steps/s"
    )


if __name__ == "__main__":
    main()
