#!/bin/bash
# GenStudio's device checks as one command, on a machine with CUDA where the package is not
# installed (the device tool's machine): bench/gpu_quality.py, then tests/core/test_cuda.py.
# The MNIST files travel in .gpu/data/mnist (excluded from git, carried), or
# GENSTUDIO_SHARED_DATA names them. Results go under $OUT: machine.txt, gpu_quality.log,
# cuda_tests.txt and results.tar.gz (bench/results/gpu_quality*).
#   bash bench/device_checks.sh [gpu_quality options]
set -u
: "${OUT:?OUT must be set}"
source "$(dirname "$0")/device_env.sh"
export GENSTUDIO_SHARED_DATA="${GENSTUDIO_SHARED_DATA:-$ROOT/.gpu/data}"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  $PY -c "import sys, torch, numpy; print(sys.version.split()[0], torch.__version__, numpy.__version__, torch.cuda.is_available())"
  nproc
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"
date +%s > /tmp/gs-t0
timeout "${BENCH_TIMEOUT:-495}" $PY bench/gpu_quality.py "$@" > "$OUT/gpu_quality.log" 2>&1
echo "gpu_quality rc=$? in $(( $(date +%s) - $(cat /tmp/gs-t0) )) s"
grep -E "^== |^\{'steps|Error|error" "$OUT/gpu_quality.log" | cut -c1-600
date +%s > /tmp/gs-t0
timeout "${TEST_TIMEOUT:-75}" $PY -m pytest -q -p no:cacheprovider -p genstudio.testing tests/core/test_cuda.py \
  > "$OUT/cuda_tests.txt" 2>&1
echo "cuda tests rc=$? in $(( $(date +%s) - $(cat /tmp/gs-t0) )) s"; tail -25 "$OUT/cuda_tests.txt"
tar czf "$OUT/results.tar.gz" bench/results/gpu_quality* 2>/dev/null
ls -la "$OUT"
