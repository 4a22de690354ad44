#!/usr/bin/env bash
# Run the engine tests as on other x86 CPUs and thread counts (issue 13: tolerances must hold on
# any x86 machine, not only the one a test was written on).
#
#   1. torch's ATen kernels without AVX2/AVX-512 (ATEN_CPU_CAPABILITY=default), numpy on its
#      baseline (no X86_V3/V4 dispatch), OpenBLAS and MKL on older kernels: different
#      vectorisation, so float32 sums round differently, as on an older or another vendor's CPU;
#   2. OMP_NUM_THREADS=1 and 2: torch splits reductions by thread.
#
# Usage: bash scripts/portable_tests.sh [pytest args]   (default: tests/engine)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(tests/engine)
echo "== emulated older CPU (no AVX2/AVX-512 kernels), 2 threads"
ATEN_CPU_CAPABILITY=default NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL X86_V3" \
  MKL_ENABLE_INSTRUCTIONS=SSE4_2 OPENBLAS_CORETYPE=Sandybridge OMP_NUM_THREADS=2 \
  "$PY" -m pytest -q -p no:cacheprovider "${args[@]}"
for t in 1 2; do
  echo "== OMP_NUM_THREADS=$t"
  OMP_NUM_THREADS=$t "$PY" -m pytest -q -p no:cacheprovider "${args[@]}"
done
