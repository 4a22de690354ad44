"""Online latency and throughput of mrrecon's MRD server (a benchmark, not a test).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_server.py [--method sense] [--runs 20] [--repetitions 50]

Latency: time from sending the last acquisition of a slice (flagged ACQ_LAST_IN_SLICE) to
receiving its image, for sample_data/phantom_R2.h5 (R = 2, 8 coils, 128²), measured by
the client over loopback; median and max of ``--runs`` streams. Throughput: one stream of
``--repetitions`` repetitions of the same slice; slices per second from the first
acquisition sent to the last image received. Server and client run in this process (the
server in its own threads), one torch thread.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from recon_engine.server import MRDServer, file_messages, stream_messages

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--method", default="sense")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--repetitions", type=int, default=50)
    ap.add_argument("--sample", default=str(ROOT / "sample_data" / "phantom_R2.h5"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    server = MRDServer(("127.0.0.1", 0))
    server.start_background()
    try:
        msgs = list(file_messages(args.sample, config=args.method))
        stream_messages(msgs, port=server.port)  # warm-up (imports, FFT plans)
        lat = []
        for _ in range(args.runs):
            r = stream_messages(msgs, port=server.port)
            assert r.closed and len(r.images) == 1, r.texts
            lat.extend(r.latencies_s)
        rep = list(file_messages(args.sample, config=args.method, repetitions=args.repetitions))
        r = stream_messages(rep, port=server.port)
        assert r.closed and len(r.images) == args.repetitions, r.texts
        out = {
            "method": args.method,
            "latency_median_ms": 1e3 * statistics.median(lat),
            "latency_max_ms": 1e3 * max(lat),
            "server_recon_median_ms": 1e3
            * statistics.median(
                server.finished[1]["latencies_s"]
                + [x for f in server.finished[2 : 1 + args.runs] for x in f["latencies_s"]]
            ),
            "repetitions": args.repetitions,
            "stream_s": r.seconds,
            "slices_per_s": args.repetitions / r.seconds,
            "acquisitions_per_s": r.acquisitions / r.seconds,
        }
    finally:
        server.stop()
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}, indent=2))


if __name__ == "__main__":
    main()
