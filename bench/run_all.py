"""Run every benchmark in turn (``make bench``); each writes bench/results/<name>.json.

The MNIST training benchmarks take their issues' CPU budgets (5 or 10 minutes each), so the
whole set takes about an hour on two cores. ``--only a,b`` runs some; ``--quick`` runs each
with a short budget to check the pipeline (its figures are not the benchmark's).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name: (arguments for a full run, arguments for --quick)
BENCHMARKS = {
    "frechet": ([], []),
    "image_folder_load": ([], []),
    "host_overhead": (["--steps", "300", "--repeats", "4"], ["--steps", "30", "--repeats", "1"]),
    "vae_vs_examples": (["--epochs", "20", "--repeats", "3"], ["--epochs", "1", "--repeats", "1"]),
    "ui_latency": ([], ["--only", "startup,plot", "--seconds", "5"]),
    "vae_mnist": (["--budget", "300"], ["--budget", "15", "--k", "10"]),
    "gan_mnist": (["--budget", "600"], ["--budget", "15"]),
    "rbm_mnist": (["--budget", "600"], ["--budget", "15", "--ais-betas", "200", "--ais-runs", "10"]),
    "flow_mnist": (["--budget", "600"], ["--budget", "15"]),
    "flow_toys": (["--budget", "600"], ["--budget", "25"]),
    "diffusion_mnist": (["--budget", "600"], ["--budget", "15"]),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", default=",".join(BENCHMARKS))
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    failed = []
    for name in args.only.split(","):
        full, quick = BENCHMARKS[name]
        started = time.monotonic()
        print(f"== {name}", flush=True)
        done = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *(quick if args.quick else full)])
        print(f"== {name}: exit {done.returncode} after {time.monotonic() - started:.0f} s", flush=True)
        if done.returncode:
            failed.append(name)
    if failed:
        sys.exit(f"benchmarks that failed to run: {', '.join(failed)}")


if __name__ == "__main__":
    main()
