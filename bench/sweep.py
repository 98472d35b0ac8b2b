"""Sweeps: N trials of the VAE on MNIST, one worker against two workers sharing the study.

Each worker is a ``genstudio sweep`` process with one CPU thread; the two workers share one
SQLite study, as several machines would share a database server. Reported: the wall-clock
of each configuration and their ratio (target >= 1.7 on 2 cores), and for each study the
objective of its first trial (the family's defaults, which every new study trains first)
against the best value found.

    flock /work/wt/bench.lock .venv/bin/python bench/sweep.py                 # 8 trials x 1 min
    flock /work/wt/bench.lock .venv/bin/python bench/sweep.py --trials 4 --minutes 0.33 --name sweep_small

Trials are not pruned here (``--pruner none``): every trial then takes its full minute in
both configurations, so the ratio measures the parallel speed-up alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import MNIST_IMAGES, write_result


def default_source() -> str:
    """The built-in ``mnist`` where this GenStudio has it, else the shared MNIST IDX file."""
    from genstudio.host import create_plugin_manager

    host = create_plugin_manager(None, autoload=False)
    names = host.datasets.names() if hasattr(host, "datasets") else []
    return "mnist" if "mnist" in names else str(MNIST_IMAGES)


def sweep(workspace: Path, study: str, args: argparse.Namespace) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "genstudio", "sweep", "vae", "--data", args.source, "--trials", str(args.trials),
        "--minutes-per-trial", str(args.minutes), "--study", study, "--pruner", args.pruner,
        "--cpu-threads", "1", "--device", "cpu", "--workspace", str(workspace), "--json",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    log = (workspace / f"{study}-{time.monotonic_ns()}.jsonl").open("w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def timed(workspace: Path, study: str, workers: int, args: argparse.Namespace) -> float:
    t0 = time.perf_counter()
    procs = [sweep(workspace, study, args) for _ in range(workers)]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - t0
    if any(codes):
        logs = "\n".join(p.read_text()[-2000:] for p in workspace.glob(f"{study}-*.jsonl"))
        raise SystemExit(f"a sweep of study {study} failed ({codes}):\n{logs}")
    return wall


def summary(workspace: Path, study_name: str) -> dict:
    from genstudio.runs.workspace import Workspace
    from genstudio.sweeps import study as st

    study = st.load_study(st.default_storage(Workspace(workspace)), study_name)
    rows = st.trial_rows(study)
    best = st.best_of(study)
    first = rows[0]
    return {
        "objective": study.user_attrs.get("objective"),
        "trials": [{k: r[k] for k in ("trial", "state", "value", "step", "params")} for r in rows],
        "complete": sum(r["state"] == "complete" for r in rows),
        "defaults_value": first["value"],
        "defaults_params": first["params"],
        "best_value": best["value"],
        "best_params": best["params"],
        "best_vs_defaults": None if first["value"] is None else best["value"] - first["value"],
        "workers": sorted({str(t.user_attrs.get("pid")) for t in study.trials}),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--minutes", type=float, default=1.0, help="minutes per trial (default 1)")
    p.add_argument("--source", default=None, help="data source (default: mnist, else the shared MNIST IDX file)")
    p.add_argument("--pruner", default="none")
    p.add_argument("--name", default="sweep", help="the result's name in bench/results")
    args = p.parse_args()
    args.source = args.source or default_source()
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="gs-bench-sweep-") as tmp:
        workspace = Path(tmp)
        one = timed(workspace, "one-worker", 1, args)
        load.append(os.getloadavg()[0])
        two = timed(workspace, "two-workers", 2, args)
        load.append(os.getloadavg()[0])
        result = {
            "config": {
                "model": "vae",
                "data": args.source,
                "trials": args.trials,
                "minutes_per_trial": args.minutes,
                "pruner": args.pruner,
                "threads_per_worker": 1,
                "sampler": "tpe",
            },
            "wall_one_worker_s": round(one, 1),
            "wall_two_workers_s": round(two, 1),
            "ratio": round(one / two, 3),
            "target_ratio": 1.7,
            "load_average_1min": [round(v, 2) for v in load],
            "one_worker": summary(workspace, "one-worker"),
            "two_workers": summary(workspace, "two-workers"),
        }
    write_result(args.name, result)


if __name__ == "__main__":
    main()
