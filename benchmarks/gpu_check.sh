#!/usr/bin/env bash
# One-shot GPU check: the scaling grid N in {1e3, 1e4, 1e5} x R in {100, 1000} (LL,
# LL+gradient, Hessian where it fits in 120 s, peak allocator memory, float32 vs float64),
# which includes N = 100,000 x R = 1,000 LL+gradient, written to $OUT.
#
# Run from the repository root on a machine with a GPU and JAX (jax[cuda]) installed;
# needs no network.  It uses the installed python (set PYTHON to choose another) and
# this checkout's iclv_jax.
#
#     OUT=/some/dir bash benchmarks/gpu_check.sh [extra scaling.py options, e.g. a smaller
#                                                 grid: --people 1000 --draws 100]
#
# Expect several minutes (set-up of N = 1e5 people x 1e3 draws is CPU work, twice per case
# for the float32 comparison); add --repeats 1 to shorten, or a smaller grid to fit.
# Writes $OUT/environment.txt, $OUT/scaling.log (one JSON line per case, as they finish,
# so a run cut short still reports), $OUT/scaling-gpu.json and $OUT/scaling-gpu.png.
set -euo pipefail
OUT="${OUT:?set OUT to the folder for the results}"
PYTHON="${PYTHON:-python}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  "$PYTHON" -c "import jax; print(jax.__version__, jax.devices())"
  "$PYTHON" -c "import equinox, jaxtyping, optax, pandas, scipy, matplotlib, yaml"
} >"$OUT/environment.txt" 2>&1 || { cat "$OUT/environment.txt"; exit 1; }
cat "$OUT/environment.txt"
# the float32 estimation comparison is a CPU-sized job: the CPU run records it
"$PYTHON" benchmarks/scaling.py --results "$OUT" --no-estimates --hessian-limit 120 \
  "$@" 2>&1 | tee "$OUT/scaling.log"
