"""The spline flow on the 2-D toys: test negative log-likelihood next to the true density's.

For each toy with a closed-form density (8gaussians, moons, circles, rings, checkerboard),
trains ``genstudio train flow`` on 10,000 points (seed 0) for an equal share of ``--budget``
seconds of wall time (default 600, the issue's 10 minutes, so 120 s a toy), then scores 5,000
held-out points (seed 1) with the model's exact ``log_prob`` and with the toy's true
log-density. The gap (model NLL - true NLL, nats per point) is what the flow has left to learn;
it cannot be negative in expectation (Gibbs' inequality), only by sampling noise.

    python bench/flow_toys.py [--budget SECONDS] [--threads N] [--batch-size N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

from bench._common import train_for, write_result
from genstudio.api import LoadContext
from genstudio.data.datasets import Checkerboard, Circles, EightGaussians, Moons, Rings, ToyOptions

TOYS = (EightGaussians, Moons, Circles, Rings, Checkerboard)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--budget", type=float, default=600.0, help="seconds of training, split evenly across the toys")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config: dict = {}  # the family's defaults
    per_toy = args.budget / len(TOYS)
    results = {}
    for toy_cls in TOYS:
        toy = toy_cls()  # trained on its 10,000 default points, seed 0
        trainer, run = train_for("flow", toy.name, config, per_toy, batch_size=args.batch_size, val_fraction=0.05)
        seconds = run["train_seconds"]
        test = toy.load(ToyOptions(n=5_000, seed=1), None, LoadContext()).x
        model = trainer.model.eval()
        with torch.no_grad():
            lp = model.log_prob(torch.from_numpy(test)).double().numpy()
        true_lp = toy.log_prob(test)
        gap = -lp + true_lp
        results[toy.name] = {
            "steps": trainer.step,
            "trained_s": round(seconds, 1),
            "steps_per_s": round(trainer.step / seconds, 1),
            "test_nll": float(-lp.mean()),
            "true_nll": float(-true_lp.mean()),
            "gap_nats": float(gap.mean()),
            "gap_sem": float(gap.std() / len(gap) ** 0.5),
        }
        print(toy.name, results[toy.name], flush=True)
    write_result(
        "flow_toys",
        {
            "config": config or "defaults",
            "budget_s": args.budget,
            "per_toy_s": per_toy,
            "batch_size": args.batch_size,
            "train_points": 10_000,
            "test_points": "5,000 drawn with seed 1 (training used seed 0)",
            "toys": results,
            "mean_gap_nats": float(np.mean([r["gap_nats"] for r in results.values()])),
        },
    )


if __name__ == "__main__":
    main()
