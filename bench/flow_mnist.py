"""The Glow-style flow on MNIST: test bits per dimension after a CPU time budget, and samples.

Trains ``genstudio train flow`` on the first 8,000 images of the shared MNIST test set for
``--budget`` seconds of wall time (default 600, the issue's 10 minutes), then scores the last
2,000 images. Bits per dimension follow the convention of every flow paper (Theis et al.
2016; Dinh et al. 2017): pixels k/255 are dequantized to y = (k + u)/256, u ~ U[0, 1), once
with a fixed seed, and bpd = (-log p(y) + D ln 256) / (D ln 2), an upper bound on the
discrete model's -log2 P(k) / D. The density evaluated at the undequantized points (what a
generic log_prob metric sees) and at the bin centres are recorded beside it.

For scale: RealNVP 1.06 and Glow 1.05 bits/dim on MNIST, as reported by Grathwohl et al.
(2019, FFJORD, Table 2), with models of millions of parameters trained for days on GPUs on
the 60,000 training images and scored on the 10,000 test images. Ten CPU minutes on 8,000
images is far from that; the figure shows where the budget gets.

    python bench/flow_mnist.py [--budget SECONDS] [--threads N] [--batch-size N]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

from bench._common import RESULTS, load_mnist, mnist_train_set, train_for, write_result
from genstudio.data.grid import make_grid, save_png

SAMPLE_TEMPERATURE = 0.7  # as Glow's figures (Kingma and Dhariwal 2018, Section 5.4); T = 1 saved too


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--budget", type=float, default=600.0, help="seconds of training")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x_test = load_mnist()[2]
    config: dict = {}  # the family's defaults: 2 levels of 8 steps, 64 hidden channels
    # live grids of 16 keep the trainer's sampling (every 15 s at least) cheap
    trainer, run = train_for("flow", mnist_train_set(), config, args.budget, batch_size=args.batch_size,
                             val_fraction=0.05, n_samples=16)  # fmt: skip
    trained_s, steps = run["train_seconds"], trainer.step
    model = trainer.model.eval()
    val = trainer.store.scalars(trainer.run.id, ["val/bpd"])["val/bpd"][1]

    test = torch.from_numpy(np.array(x_test)).float().div(255.0)
    d = test[0].numel()
    g = torch.Generator().manual_seed(0)
    t1 = time.perf_counter()
    with torch.no_grad():

        def bpd(points: torch.Tensor) -> tuple[float, float]:
            nll = -torch.cat([model.log_prob(c) for c in points.split(500)]).double()
            per = (nll + d * math.log(256)) / (d * math.log(2))
            return float(per.mean()), float(per.std() / len(per) ** 0.5)

        dequantized = bpd(model.dequantize(test, g))
        at_points = bpd(test)
        centres = bpd((torch.round(test * 255) + 0.5) / 256)
        n_params = sum(p.numel() for p in model.parameters())
        samples = model.sample(64, torch.Generator().manual_seed(1), temperature=SAMPLE_TEMPERATURE).numpy()
        samples_t1 = model.sample(64, torch.Generator().manual_seed(1), temperature=1.0).numpy()
    eval_s = time.perf_counter() - t1
    grid = RESULTS / "flow_mnist.png"
    RESULTS.mkdir(parents=True, exist_ok=True)
    save_png(grid, make_grid(samples, nrow=8), scale=2)
    save_png(RESULTS / "flow_mnist_t1.png", make_grid(samples_t1, nrow=8), scale=2)
    np.save(RESULTS / "flow_mnist_samples.npy", samples)
    write_result(
        "flow_mnist",
        {
            "config": config or "defaults",
            "levels": model.levels,
            "parameters": n_params,
            "budget_s": args.budget,
            "trained_s": trained_s,
            "steps": steps,
            "batch_size": args.batch_size,
            "epochs": steps * args.batch_size / (0.95 * 8000),
            "steps_per_s": steps / trained_s,
            "test_bpd": dequantized[0],
            "test_bpd_sem": dequantized[1],
            "test_set": "last 2,000 MNIST test images, dequantized (k + u)/256 once with seed 0",
            "test_bpd_at_undequantized_points": at_points[0],
            "test_bpd_at_bin_centres": centres[0],
            "last_val_bpd": float(val[-1]) if len(val) else None,
            "published": {
                "realnvp_bpd": 1.06,
                "glow_bpd": 1.05,
                "source": "Grathwohl et al. 2019 (FFJORD), Table 2, for Dinh et al. 2017 and Kingma and Dhariwal 2018",
                "setup": "60,000 training and 10,000 test images, large models trained for days on GPUs",
            },
            "eval_s": eval_s,
            "grid": str(grid.relative_to(RESULTS.parent.parent)),
            "grid_temperature": SAMPLE_TEMPERATURE,
            "grid_t1": "bench/results/flow_mnist_t1.png",
        },
    )


if __name__ == "__main__":
    main()
