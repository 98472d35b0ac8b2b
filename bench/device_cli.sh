#!/bin/bash
# The command line on CUDA, where the package is not installed (the device tool's machine):
# train with --device auto, sample on the CPU, resume on CUDA, eval,
# and a one-process torchrun with bf16. Carry .gpu/whl: wheels of platformdirs and pooch
# (`pip download --no-deps -d .gpu/whl platformdirs pooch`), which that machine lacks.
#   bash bench/device_cli.sh     (STEPS=N: the VAE's steps, default 300)
set -u
source "$(dirname "$0")/device_env.sh"
S=${STEPS:-300}
export GENSTUDIO_WORKSPACE=/tmp/gs-ws
rm -rf /tmp/gs-ws
t() { echo "== $*"; local t0=$(date +%s%N); "$@" > /tmp/gs-out 2>&1; local rc=$?; echo "rc=$rc in $(( ($(date +%s%N) - t0) / 1000000 )) ms"; tail -c 700 /tmp/gs-out; echo; }
t $PY -m genstudio train vae --data mnist --steps $S --device auto --name gpu-vae
t $PY -m genstudio sample gpu-vae -n 16 -o /tmp/gs-s.npy --device cpu
t $PY -c "import numpy as np; a = np.load('/tmp/gs-s.npy'); print(a.shape, a.dtype, float(a.min()), float(a.max()), bool(np.isfinite(a).all()))"
t $PY -m genstudio resume gpu-vae --steps $((S + 100)) --device auto
t $PY -m genstudio eval gpu-vae --metrics nll --device auto
if command -v torchrun >/dev/null; then
  t torchrun --nproc-per-node 1 -m genstudio train diffusion --data mnist --steps $((S / 3)) --device cuda --precision bf16 --name tr-diff
fi
t $PY -m genstudio runs list
